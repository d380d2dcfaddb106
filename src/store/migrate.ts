import { type Kysely, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import type { StoreKind } from './dialect.ts';
import { migrations } from './migrations.ts';

// Brings a store's schema up to date (migrations.ts). On SQLite one process has the store (lock.ts).
// On PostgreSQL any number of processes start at once: each takes a session advisory lock on one
// connection and migrates on that connection, so one migrates while the others wait, then find
// nothing left to do. (Kysely's migrator takes a lock of its own too, after creating its bookkeeping
// tables, a race it settles by checking again when a create fails; ours spans the whole run, so the
// guarantee does not rest on those details. test/store/postgres-migrate.test.ts fails without both.)

/** The advisory lock of igdm's migrations ("igdm" in ASCII); per database, as PostgreSQL's are. */
const MIGRATION_LOCK = 0x6967646d;

export interface MigrationReport {
  /** The migrations this call applied, in order (none when the schema was up to date). */
  applied: string[];
  /** The migrations the schema has now. */
  total: number;
}

export async function migrate(db: Kysely<unknown>, kind: StoreKind): Promise<MigrationReport> {
  if (kind === 'sqlite') return runMigrations(db, kind);
  return db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK})`.execute(conn);
    try {
      return await runMigrations(conn, kind);
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK})`.execute(conn);
    }
  });
}

async function runMigrations(db: Kysely<unknown>, kind: StoreKind): Promise<MigrationReport> {
  const all = migrations(kind);
  const migrator = new Migrator({ db, provider: { getMigrations: async () => all } });
  const { error, results = [] } = await migrator.migrateToLatest();
  const failed = results.find((r) => r.status === 'Error');
  if (error || failed) {
    const reason = error instanceof Error ? error.message : String(error ?? '');
    throw new Error(`Store migration ${failed?.migrationName ?? ''} failed: ${reason}`);
  }
  return {
    applied: results.filter((r) => r.status === 'Success').map((r) => r.migrationName),
    total: Object.keys(all).length,
  };
}
