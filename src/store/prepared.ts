import type { DatabaseSync } from 'node:sqlite';
import {
  type Compilable,
  CompiledQuery,
  createQueryId,
  type Kysely,
  type QueryResult,
  type RawBuilder,
} from 'kysely';
import { builder } from './builder.ts';
import { kindOf } from './dialect.ts';
import { deferred } from './postgres-pipeline.ts';
import { camelCase, toParam, toRow } from './rows.ts';
import { executeCompiled } from './sqlite.ts';

// Statements written once with Kysely (so the SQL follows the store's dialect) and run many times:
// building a query costs ~50 µs and a good share of the garbage, running a prepared one a few µs.
// Mark the values that change with param('name'); everything else is bound as written.
//
// - prepare(): a node:sqlite statement, run synchronously on a connection the caller owns (the
//   ingest worker's).
// - compile(): a compiled Kysely query, run through a Kysely instance or transaction, so that it
//   keeps the main thread's connection order, write gate and durability (store/sqlite.ts, store/shared-connection.ts).
//   Built with the SQLite builder (builder.ts); run on PostgreSQL, it is compiled again, once, by
//   the PostgreSQL Kysely's own compiler and plugins.

const MARK = '\u0000igdm-param:';

/** A named parameter of a prepared statement. */
export const param = <T>(name: string): T => `${MARK}${name}` as T;

type Slot = { name: string } | { value: unknown };

export interface Prepared<A> {
  run(args: A): { changes: number };
  get<R>(args: A): R | undefined;
  all<R>(args: A): R[];
}

export function prepare<A extends Record<string, unknown> = Record<string, never>>(
  sqlite: DatabaseSync,
  query: Compilable,
): Prepared<A> {
  const { sql, parameters } = query.compile();
  const slots = slotsOf(parameters);
  const stmt = sqlite.prepare(sql);
  const bind = (args: A) => slots.map((s) => toParam('name' in s ? args[s.name] : s.value));
  // Rows come back as arrays and become camelCase objects with names worked out once here: making
  // node:sqlite's snake_case row object and renaming every key per row was a large share of what
  // the ingest worker allocated.
  const names = stmt.columns().map((c) => camelCase(c.name));
  stmt.setReturnArrays(true);
  return {
    run: (args) => ({ changes: Number(stmt.run(...bind(args)).changes) }),
    get: <R>(args: A) => {
      const values = stmt.get(...bind(args)) as unknown as unknown[] | undefined;
      return values === undefined ? undefined : toRow<R>(names, values);
    },
    all: <R>(args: A) =>
      (stmt.all(...bind(args)) as unknown as unknown[][]).map((values) => toRow<R>(names, values)),
  };
}

/** A Kysely query compiled once; `run(db, args)` executes it with args bound, through `db`. */
export interface Compiled<A, R> {
  run(db: Executor, args: A): Promise<QueryResult<R>>;
  /** The first row, if any. */
  first(db: Executor, args: A): Promise<R | undefined>;
  all(db: Executor, args: A): Promise<R[]>;
  /** Rows changed by a write. */
  changes(db: Executor, args: A): Promise<number>;
  /**
   * A write inside a transaction whose answer is not awaited: on PostgreSQL it is sent ahead of the
   * transaction's next statement, which fails if it did (postgres-pipeline.ts); on SQLite, run.
   */
  later(db: Executor, args: A): Promise<void>;
  /** The query with `args` bound, as `db`'s dialect runs it (for together()). */
  bound(db: Executor, args: A): CompiledQuery<R>;
}

/** A write and its arguments, for together(). */
// biome-ignore lint/suspicious/noExplicitAny: any compiled write with its own arguments
export type Write = readonly [Compiled<any, unknown>, Record<string, unknown>];

/**
 * Writes as one statement on PostgreSQL (each part a CTE of `with … select 1`; in a transaction,
 * not awaited, as later()); on SQLite, each run in turn. The parts must not change the same rows:
 * the parts of one statement see the same snapshot, not each other's changes. The same write twice
 * (two events into the log) starts another statement: within one, the parts' order is not defined.
 */
export async function together(db: Executor, writes: readonly Write[]): Promise<void> {
  if (kindOf(db) === 'sqlite') {
    for (const [c, args] of writes) await c.later(db, args);
    return;
  }
  let group: Write[] = [];
  for (const write of writes) {
    if (group.some(([c]) => c === write[0])) {
      await oneStatement(db, group);
      group = [];
    }
    group.push(write);
  }
  if (group.length > 0) await oneStatement(db, group);
}

async function oneStatement(db: Executor, writes: readonly Write[]): Promise<void> {
  if (writes.length === 1) return writes[0]![0].later(db, writes[0]![1]);
  const texts: string[] = [];
  const parameters: unknown[] = [];
  for (const [c, args] of writes) {
    const q = c.bound(db, args);
    const offset = parameters.length;
    // Kysely's PostgreSQL texts hold $n for parameters only (no dollar quoting in igdm's writes).
    texts.push(
      `w${texts.length} as (${q.sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`)})`,
    );
    parameters.push(...q.parameters);
  }
  const text = `with ${texts.join(', ')} select 1`;
  await executeCompiled(db, CompiledQuery.raw(db.isTransaction ? deferred(text) : text, parameters));
}

type Executor = Parameters<typeof executeCompiled>[0] & Pick<Kysely<unknown>, 'getExecutor'>;

interface Template<R> {
  compiled: CompiledQuery<R>;
  slots: Slot[];
  /** The text run by later(). */
  deferredSql: string;
}

const templateOf = <R>(compiled: CompiledQuery<R>, postgres: boolean): Template<R> => ({
  compiled,
  slots: slotsOf(compiled.parameters),
  deferredSql: postgres ? deferred(compiled.sql) : compiled.sql,
});

export function compile<A extends Record<string, unknown>, R = unknown>(
  query: (Compilable<R> & { toOperationNode(): CompiledQuery['query'] }) | RawBuilder<R>,
): Compiled<A, R> {
  // A sql`` template (PostgreSQL-only SQL, for one) compiles through the SQLite builder too.
  const sqlite = templateOf('isRawBuilder' in query ? query.compile(builder) : query.compile(), false);
  let postgres: Template<R> | undefined;
  const templateFor = (db: Executor): Template<R> => {
    if (kindOf(db) === 'sqlite') return sqlite;
    if (!postgres) {
      const executor = db.getExecutor();
      const id = createQueryId();
      postgres = templateOf(
        executor.compileQuery<R>(executor.transformQuery(query.toOperationNode(), id), id),
        true,
      );
    }
    return postgres;
  };
  const bind = (db: Executor, args: A, later = false): CompiledQuery<R> => {
    const { compiled, slots, deferredSql } = templateFor(db);
    return {
      ...compiled,
      ...(later && { sql: deferredSql }),
      parameters: slots.map((s) => ('name' in s ? args[s.name] : s.value)),
    };
  };
  const run = (db: Executor, args: A) => executeCompiled<R>(db, bind(db, args));
  return {
    run,
    bound: (db, args) => bind(db, args),
    // Outside a transaction nothing follows it to bring its answer: it is run and awaited.
    later: async (db, args) => {
      await executeCompiled<R>(db, bind(db, args, db.isTransaction));
    },
    first: async (db, args) => (await run(db, args)).rows[0],
    all: async (db, args) => (await run(db, args)).rows,
    changes: async (db, args) => Number((await run(db, args)).numAffectedRows ?? 0),
  };
}

const slotsOf = (parameters: readonly unknown[]): Slot[] =>
  parameters.map((v) =>
    typeof v === 'string' && v.startsWith(MARK) ? { name: v.slice(MARK.length) } : { value: v },
  );
