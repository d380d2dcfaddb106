import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { StoreKind } from './dialect.ts';

// The migration of the event log's commit-ordered cursor (0024; store/event-log.ts). On PostgreSQL
// each event keeps the id of the transaction that wrote it, and readers follow (tx, id) below the
// oldest transaction still running, so an id committing after a higher one is never skipped. On
// SQLite (one writer: ids commit in order) the column stays null and unused; it exists so that both
// schemas have the same columns (igdm migrate-store, test/store/postgres-migrate.test.ts).

export const cursorMigrations = (kind: StoreKind): Record<string, Migration> => ({
  '0024_event_log_tx': {
    async up(db: Kysely<unknown>) {
      if (kind === 'sqlite') {
        await db.schema.alterTable('events').addColumn('tx', 'bigint').execute();
        // Empty on SQLite (tx is always null there): costs an insert nothing but the predicate.
        await sql`create index events_commit_order on events (tx, id) where tx is not null`.execute(db);
        return;
      }
      // A volatile default: the rows already there get this migration's transaction, in id order.
      // pg_current_xact_id() is the top-level transaction's id, also inside a savepoint; xid8 values
      // stay far below 2^53 (an epoch of 2^32 transactions would have to pass 2^21 times).
      await sql`alter table events add column tx bigint default (pg_current_xact_id()::text::bigint)`.execute(
        db,
      );
      await sql`create index events_commit_order on events (tx, id) where tx is not null`.execute(db);
    },
  },
});
