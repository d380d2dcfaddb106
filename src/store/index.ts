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
  const db = kyselyOver(openSqlite(sqlitePath));
  await migrate(db as Kysely<unknown>, 'sqlite');
  return { kind: 'sqlite', db, sqlitePath, close: () => db.destroy() };
}
