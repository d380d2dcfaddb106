import { type Kysely, sql } from 'kysely';
import type { Database } from '../../src/store/schema.ts';

// Stores as earlier versions left them: what a migration added, taken away again (with its record),
// so that the next start runs it on data written before it.

/**
 * Undoes 0012_inbox: the search index and its triggers, notes, the assignee and the agents' read mark.
 * The migrations after it are undone first (Kysely refuses to run a migration older than the last one
 * run): 0014_contact_erasures.
 */
export async function undoInboxMigration(db: Kysely<Database>) {
  await sql`drop table contact_erasures`.execute(db);
  await sql`delete from kysely_migration where name = '0014_contact_erasures'`.execute(db);
  for (const trigger of ['insert', 'update', 'delete'])
    await sql.raw(`drop trigger messages_fts_${trigger}`).execute(db);
  await sql`drop table messages_fts`.execute(db);
  await sql`drop table conversation_notes`.execute(db);
  await sql`alter table conversations drop column assignee`.execute(db);
  await sql`alter table conversations drop column agent_read_up_to`.execute(db);
  await sql`delete from kysely_migration where name = '0012_inbox'`.execute(db);
}
