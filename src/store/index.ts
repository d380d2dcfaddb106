import type { DatabaseSync } from 'node:sqlite';
import type { Kysely } from 'kysely';
import { openSqlite } from './connection.ts';
import { prepareStoreFiles } from './files.ts';
import { checkIntegrity, INTEGRITY_BUDGET_MS, type IntegrityCheck } from './integrity.ts';
import { StoreLock } from './lock.ts';
import { type MigrationReport, migrate } from './migrate.ts';
import { openPostgres } from './postgres.ts';
import { StoreCamelCase } from './rows.ts';
import type { Database } from './schema.ts';
import { type DialectOptions, StoreKysely, sqliteDialect } from './sqlite.ts';

export type { StoreKind } from './dialect.ts';
export type { MigrationReport } from './migrate.ts';
export type { Database } from './schema.ts';

/** What every store has: the repositories (src/store/*.ts) take its `db`. */
interface StoreBase {
  db: Kysely<Database>;
  /**
   * `db` without waiting for the disk: a write resolves once committed (see DialectOptions in
   * sqlite.ts). For state re-derived from what is durable, such as the queue's bookkeeping and what
   * a job writes before an effect outside igdm (whose own write, durable, covers it).
   */
  relaxed: Kysely<Database>;
  /** Damage the integrity check found after the store opened (it outlived its time budget), or null. */
  damage(): string | null;
  close(): Promise<void>;
}

/** The embedded store: its own ingest worker, projector and queue (service-store.ts). */
export interface SqliteStore extends StoreBase {
  kind: 'sqlite';
  /** The SQLite file, for the ingest worker's own connection. */
  sqlitePath: string;
  /**
   * The same connection as `db`, for prepared statements (store/prepared.ts). Its commits are not
   * synced (synchronous=NORMAL; see sqlite.ts): writes that must be durable go through `db`.
   */
  sqlite: DatabaseSync;
}

/**
 * The store on PostgreSQL: its schema and the repositories' Kysely queries. `relaxed` is a second,
 * smaller pool whose commits do not wait for the server's disk (synchronous_commit = off), for what
 * the embedded store's `relaxed` is for: the queue's bookkeeping, the projection, the engine's
 * writes. A durable commit flushes every commit before it (the write-ahead log is one stream), so
 * the sender's claim, which waits, makes them durable before anything leaves igdm. The service runs
 * on it through service-store.ts (docs/postgres.md).
 */
export interface PostgresStore extends StoreBase {
  kind: 'postgres';
}

export type Store = SqliteStore | PostgresStore;

/** Why a command that needs what only the embedded store has (its file, its connection) refuses PostgreSQL. */
export const EMBEDDED_ONLY =
  'this command works on the embedded store (DATABASE_URL=sqlite:PATH) only: its file and connection have no PostgreSQL counterpart here (docs/postgres.md)';

export const isPostgresUrl = (databaseUrl: string) => /^postgres(ql)?:\/\//.test(databaseUrl);

export interface StoreOptions {
  /** How long the open waits for the integrity check (see integrity.ts). */
  integrityBudgetMs?: number;
  /** Told about damage the integrity check finds after the store opened. */
  lateDamage?: (message: string) => void;
  /** Told what the open migrated (igdm migrate reports it). */
  migrated?: (report: MigrationReport) => void;
}

/** The file of an embedded store's URL; for a PostgreSQL URL, the error saying the command needs the embedded store. */
export function sqlitePathOf(databaseUrl: string): string {
  if (isPostgresUrl(databaseUrl)) throw new Error(EMBEDDED_ONLY);
  if (!databaseUrl.startsWith('sqlite:')) {
    throw new Error('DATABASE_URL must be sqlite:PATH or postgres://...');
  }
  return databaseUrl.slice('sqlite:'.length);
}

export function kyselyOver(sqlite: DatabaseSync, options: DialectOptions = {}): Kysely<Database> {
  return new StoreKysely<Database>({
    dialect: sqliteDialect(sqlite, options),
    plugins: [new StoreCamelCase()],
  });
}

export { builder } from './builder.ts';

/**
 * Opens the store named by DATABASE_URL and brings its schema up to date: PostgreSQL
 * (postgres://…), or the embedded store (sqlite:PATH; see openSqliteStore).
 */
export function openStore(databaseUrl: `sqlite:${string}`, options?: StoreOptions): Promise<SqliteStore>;
export function openStore(databaseUrl: string, options?: StoreOptions): Promise<Store>;
export function openStore(databaseUrl: string, options: StoreOptions = {}): Promise<Store> {
  return isPostgresUrl(databaseUrl)
    ? openPostgresStore(databaseUrl, options)
    : openSqliteStore(databaseUrl, options);
}

/** Connects a pool to the database and migrates it (safe while other processes do the same). */
export async function openPostgresStore(
  databaseUrl: string,
  options: Pick<StoreOptions, 'migrated'> = {},
): Promise<PostgresStore> {
  const db = openPostgres(databaseUrl);
  try {
    const report = await migrate(db as Kysely<unknown>, 'postgres');
    options.migrated?.(report);
    const relaxed = openPostgres(databaseUrl, { maxConnections: 6, relaxed: true });
    const close = async () => {
      await Promise.all([db.destroy(), relaxed.destroy()]);
    };
    return { kind: 'postgres', db, relaxed, damage: () => null, close };
  } catch (err) {
    await db.destroy();
    throw err;
  }
}

/**
 * Opens the embedded store for this process alone (throws StoreInUseError while another process
 * uses it), checks it (integrity.ts) and brings its schema up to date.
 */
export async function openSqliteStore(databaseUrl: string, options: StoreOptions = {}): Promise<SqliteStore> {
  const sqlitePath = sqlitePathOf(databaseUrl);
  const onDisk = sqlitePath !== ':memory:';
  if (onDisk) prepareStoreFiles(sqlitePath);
  const lock = onDisk ? StoreLock.take(sqlitePath) : null;
  let check: IntegrityCheck | null = null;
  let db: Kysely<Database> | null = null;
  try {
    if (onDisk)
      check = await checkIntegrity(
        sqlitePath,
        options.integrityBudgetMs ?? INTEGRITY_BUDGET_MS,
        options.lateDamage,
      );
    // Checkpoints are the ingest worker's, off the event loop; this one is a backstop for a WAL that
    // grows while no worker runs (see worker.ts).
    const sqlite = openSqlite(sqlitePath, { autocheckpoint: 10_000 });
    db = kyselyOver(sqlite);
    const report = await migrate(db as Kysely<unknown>, 'sqlite');
    options.migrated?.(report);
    const relaxed = kyselyOver(sqlite, { durable: false });
    const opened = db;
    return {
      kind: 'sqlite',
      db,
      relaxed,
      sqlitePath,
      sqlite,
      damage: () => check?.damage ?? null,
      async close() {
        check?.stop();
        await opened.destroy();
        lock?.release();
      },
    };
  } catch (err) {
    check?.stop();
    await db?.destroy();
    lock?.release();
    throw err;
  }
}
