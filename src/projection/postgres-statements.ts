import type { Kysely, Transaction } from 'kysely';
import { type Compiled, compile, type Write } from '../store/prepared.ts';
import type { Database } from '../store/schema.ts';
import { type ArgsOf, projectionQueries, type Queries } from './statements.ts';

// The projection's statements on PostgreSQL: the same queries as SQLite's (statements.ts), compiled
// once for the pool's dialect and run, awaited, inside the projector's transaction.

export interface AsyncStatement<A> {
  run(args: A): Promise<{ changes: number }>;
  /** A write whose answer the transaction's next statement brings (Compiled.later). */
  later(args: A): Promise<void>;
  /** The write with its arguments, for together() (store/prepared.ts). */
  write(args: A): Write;
  get<R>(args: A): Promise<R | undefined>;
  all<R>(args: A): Promise<R[]>;
}

export type AsyncStatements = { [K in keyof Queries]: AsyncStatement<ArgsOf<Queries[K]>> };

type Executor = Kysely<Database> | Transaction<Database>;

/** Compiles the queries once; `on(trx)` gives statements that run in that transaction. */
export function postgresStatements(): { on(db: Executor): AsyncStatements } {
  const compiled = Object.entries(projectionQueries()).map(
    ([name, { query }]) =>
      [
        name,
        compile(query as Parameters<typeof compile>[0]) as Compiled<Record<string, unknown>, unknown>,
      ] as const,
  );
  return {
    on(db) {
      const bound: Record<string, AsyncStatement<Record<string, unknown>>> = {};
      for (const [name, c] of compiled) {
        bound[name] = {
          run: async (args) => ({ changes: await c.changes(db, args) }),
          later: (args) => c.later(db, args),
          write: (args) => [c, args],
          get: async <R>(args: Record<string, unknown>) => (await c.first(db, args)) as R | undefined,
          all: async <R>(args: Record<string, unknown>) => (await c.all(db, args)) as R[],
        };
      }
      return bound as unknown as AsyncStatements;
    },
  };
}
