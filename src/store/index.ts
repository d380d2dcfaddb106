import type { DatabaseSync } from 'node:sqlite';
import type { Kysely } from 'kysely';
import { openSqlite } from './connection.ts';
import { prepareStoreFiles } from './files.ts';
import { checkIntegrity, INTEGRITY_BUDGET_MS, type IntegrityCheck } from './integrity.ts';
import { StoreLock } from './lock.ts';
import { migrate, type StoreKind } from './migrations.ts';
import { StoreCamelCase } from './rows.ts';
import type { Database } from './schema.ts';
import { type DialectOptions, StoreKysely, sqliteDialect } from './sqlite.ts';

export type { Database } from './schema.ts';

export interface Store {
  kind: StoreKind;
  db: Kysely<Database>;
  /** The SQLite file, for the ingest worker's own connection. */
  sqlitePath: string;
  /**
   * `db` without waiting for the disk: a write resolves once committed (see DialectOptions in
   * sqlite.ts). For state re-derived from what is durable, such as the queue's bookkeeping and what
   * a job writes before an effect outside igdm (whose own write, durable, covers it).
   */
  relaxed: Kysely<Database>;
  /**
   * The same connection as `db`, for prepared statements (store/prepared.ts). Its commits are not
   * synced (synchronous=NORMAL; see sqlite.ts): writes that must be durable go through `db`.
   */
  sqlite: DatabaseSync;
  /** Damage the integrity check found after the store opened (it outlived its time budget), or null. */
  damage(): string | null;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** How long the open waits for the integrity check (see integrity.ts). */
  integrityBudgetMs?: number;
  /** Told about damage the integrity check finds after the store opened. */
  lateDamage?: (message: string) => void;
}

export function sqlitePathOf(databaseUrl: string): string {
  if (!databaseUrl.startsWith('sqlite:')) {
    throw new Error(
      'DATABASE_URL: only the embedded store (sqlite:PATH) is available in this version; PostgreSQL arrives with scale-out',
    );
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
 * Opens the store named by DATABASE_URL for this process alone (throws StoreInUseError while another
 * process uses it), checks it (integrity.ts) and brings its schema up to date.
 */
export async function openStore(databaseUrl: string, options: StoreOptions = {}): Promise<Store> {
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
    await migrate(db as Kysely<unknown>, 'sqlite');
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
