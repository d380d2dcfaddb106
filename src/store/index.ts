import type { DatabaseSync } from 'node:sqlite';
import { CamelCasePlugin, Kysely, SqliteDialect } from 'kysely';
import { migrate, type StoreKind } from './migrations.ts';
import type { Database } from './schema.ts';
import { kyselySqlite, openSqlite } from './sqlite.ts';

export type { Database } from './schema.ts';

export interface Store {
  kind: StoreKind;
  db: Kysely<Database>;
  /** The SQLite file, for the ingest worker's own connection. */
  sqlitePath: string;
  /** The same connection as `db`, for prepared statements (store/prepared.ts). */
  sqlite: DatabaseSync;
  close(): Promise<void>;
}

export function sqlitePathOf(databaseUrl: string): string {
  if (!databaseUrl.startsWith('sqlite:')) {
    throw new Error(
      'DATABASE_URL: only the embedded store (sqlite:PATH) is available in this version; PostgreSQL arrives with scale-out',
    );
  }
  return databaseUrl.slice('sqlite:'.length);
}

export function kyselyOver(sqlite: DatabaseSync): Kysely<Database> {
  return new Kysely<Database>({
    dialect: new SqliteDialect({ database: kyselySqlite(sqlite) }),
    plugins: [new CamelCasePlugin()],
  });
}

/** Opens the store named by DATABASE_URL and brings its schema up to date. */
export async function openStore(databaseUrl: string): Promise<Store> {
  const sqlitePath = sqlitePathOf(databaseUrl);
  const sqlite = openSqlite(sqlitePath);
  const db = kyselyOver(sqlite);
  await migrate(db as Kysely<unknown>, 'sqlite');
  return { kind: 'sqlite', db, sqlitePath, sqlite, close: () => db.destroy() };
}
