import { CamelCasePlugin, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { prepareRepeated } from './postgres-prepared.ts';
import type { Database } from './schema.ts';

// The store on PostgreSQL: Kysely's PostgreSQL dialect over a pg connection pool. The same schema
// and repositories as the embedded store (times are epoch ms in bigint columns, JSON is text).

/**
 * bigint (int8) and numeric arrive as strings from pg by default; igdm's are epoch milliseconds, ids
 * and counts, well inside a double's exact integers, so they come back as numbers, as from SQLite.
 * Set on this pool's clients only (pg's own defaults are global).
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC) return Number;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

export interface PostgresOptions {
  /** Connections the pool keeps at most (pg's default: 10). */
  maxConnections?: number;
  /**
   * Commits return before the server has flushed them (synchronous_commit = off): for writes that
   * may be lost in a crash of the server, because they are derived or run again (index.ts, relaxed).
   */
  relaxed?: boolean;
}

/** A Kysely over a new pool to the database at `url` (postgres://…); destroy() ends the pool. */
export function openPostgres(url: string, options: PostgresOptions = {}): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    types,
    max: options.maxConnections ?? 10,
    // A query is written at once, not after the previous one's answer (postgres-pipeline.ts).
    pipeline: true,
    ...(options.relaxed && { options: '-c synchronous_commit=off' }),
  });
  // An idle connection the server closed (a restart, a terminated backend) is dropped from the pool
  // and the next query opens another; without a listener, pg's 'error' event would end the process.
  pool.on('error', () => {});
  prepareRepeated(pool);
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    // Unlike SQLite's driver (rows.ts), pg names a row's columns as the SQL does: the plugin renames them.
    plugins: [new CamelCasePlugin()],
  });
}

/** The URL without its password (nor its parameters, which may hold one), to name it in messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}
