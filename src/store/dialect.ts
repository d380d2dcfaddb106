import { type Kysely, PostgresAdapter } from 'kysely';

// Which store a query runs on. The repositories are written once with Kysely; the few statements
// whose SQL differs between SQLite and PostgreSQL (JSON, full-text search, scalar max) ask here.

export type StoreKind = 'sqlite' | 'postgres';

/** The store a Kysely instance, or a transaction of one, runs on. */
export const kindOf = (db: Pick<Kysely<unknown>, 'getExecutor'>): StoreKind =>
  db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
