import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { StoreKind } from './dialect.ts';

// The migration of the change notices (0026; src/cluster/notices.ts). On PostgreSQL a statement
// that changes the channels (their settings, tokens and health), the API keys or the records of the
// channels' tokens NOTIFYs `igdm_changed` with the table's name, from inside the writing transaction:
// other processes hear of it once it commits, and never of a change rolled back. A statement-level
// trigger costs one notification per statement (PostgreSQL folds equal ones within a transaction).
// On SQLite (one process) nothing: the migration exists so both stores have the same list.

export const NOTICE_CHANNEL = 'igdm_changed';
/** The tables whose changes are announced. */
export const ANNOUNCED_TABLES = ['channels', 'api_keys', 'channel_tokens'] as const;

export const noticeMigrations = (kind: StoreKind): Record<string, Migration> => ({
  '0026_change_notices': {
    async up(db: Kysely<unknown>) {
      if (kind === 'sqlite') return;
      await sql`create or replace function igdm_announce_change() returns trigger language plpgsql as $$
        begin
          perform pg_notify(${sql.lit(NOTICE_CHANNEL)}, tg_table_name);
          return null;
        end $$`.execute(db);
      for (const table of ANNOUNCED_TABLES)
        await sql`create trigger ${sql.raw(`${table}_announced`)}
          after insert or update or delete on ${sql.table(table)}
          for each statement execute function igdm_announce_change()`.execute(db);
    },
  },
});
