import { type Kysely, sql } from 'kysely';
import { kindOf } from '../../src/store/dialect.ts';
import { SETTLE_0025 } from '../../src/store/migrations-shared-limits.ts';
import type { Database } from '../../src/store/schema.ts';

// Stores as earlier versions left them: what a migration added, taken away again (with its record),
// so that the next start runs it on data written before it. Kysely runs migrations in order only, so
// undoing one undoes those after it too, newest first: each migration after 0012 has its undo here.

const undo: Record<string, (db: Kysely<Database>) => Promise<void>> = {
  /** The search index and its triggers, notes, the assignee and the agents' read mark. */
  async '0012_inbox'(db) {
    for (const trigger of ['insert', 'update', 'delete'])
      await sql.raw(`drop trigger messages_fts_${trigger}`).execute(db);
    await sql`drop table messages_fts`.execute(db);
    await sql`drop table conversation_notes`.execute(db);
    await sql`alter table conversations drop column assignee`.execute(db);
    await sql`alter table conversations drop column agent_read_up_to`.execute(db);
  },
  /** Outbound webhook endpoints, deliveries and attempts. */
  async '0013_webhook_endpoints'(db) {
    for (const table of ['webhook_attempts', 'webhook_deliveries', 'webhook_endpoints'])
      await sql.raw(`drop table ${table}`).execute(db);
  },
  /** The record of contact erasures. */
  async '0014_contact_erasures'(db) {
    await sql`drop table contact_erasures`.execute(db);
  },
  /** The team's saved replies. */
  async '0015_saved_replies'(db) {
    await sql`drop table saved_replies`.execute(db);
  },
  /** The indexes of the conversation list and the unread count. */
  async '0016_inbox_indexes'(db) {
    await sql`drop index conversations_channel_recent`.execute(db);
    await sql`drop index messages_unread`.execute(db);
  },
  /** What became of each stored event. */
  async '0017_webhook_event_status'(db) {
    await sql`drop index webhook_events_not_applied`.execute(db);
    await sql`alter table webhook_events drop column apply_status`.execute(db);
  },
  /** The comments' source, product type, hidden and deleted marks, and the automation's public reply. */
  async '0018_comments'(db) {
    await sql`drop index comments_channel_recent`.execute(db);
    for (const column of ['source', 'media_product_type', 'hidden', 'deleted_at', 'public_reply_cause'])
      await sql.raw(`alter table comments drop column ${column}`).execute(db);
  },
  /** The backfilled flags of events and messages. */
  async '0019_backfill'(db) {
    await sql`alter table messages drop column backfilled`.execute(db);
    await sql`alter table webhook_events drop column backfilled`.execute(db);
  },
  /** Channels' app ids, token records and data deletion requests. */
  async '0020_channel_tokens'(db) {
    await sql`drop table data_deletion_requests`.execute(db);
    await sql`drop table channel_tokens`.execute(db);
    await sql`alter table channels drop column app_id`.execute(db);
  },
  /** Where a conversation came from. */
  async '0021_conversation_source'(db) {
    await sql`alter table conversations drop column source`.execute(db);
    await sql`alter table conversations drop column source_at`.execute(db);
  },
  /** Copies of inbound media. */
  async '0022_kept_media'(db) {
    await sql`drop table kept_media`.execute(db);
  },
  /** Approvals, and the approval a message is about. */
  async '0023_approvals'(db) {
    await sql`alter table messages drop column approval_id`.execute(db);
    await sql`drop table approvals`.execute(db);
  },
  /** The event log's commit-ordered cursor (its column stays null on SQLite). */
  async '0024_event_log_tx'(db) {
    await sql`drop index events_commit_order`.execute(db);
    await sql`alter table events drop column tx`.execute(db);
  },
  /** The limits shared across processes (empty on SQLite). */
  async '0025_shared_limits'(db) {
    await sql`drop table rate_windows`.execute(db);
    await sql`drop table channel_holds`.execute(db);
    if (kindOf(db) === 'postgres') {
      await sql`drop function igdm_rate_take`.execute(db);
      await sql`drop function igdm_rate_settle`.execute(db);
    }
  },
  /** The change notices' triggers (PostgreSQL only; nothing on SQLite). */
  async '0026_change_notices'(db) {
    if (kindOf(db) === 'sqlite') return;
    for (const table of ['channels', 'api_keys', 'channel_tokens'])
      await sql.raw(`drop trigger ${table}_announced on ${table}`).execute(db);
    await sql`drop function igdm_announce_change()`.execute(db);
  },
  /** The queue's claim function (PostgreSQL only; nothing on SQLite). */
  async '0027_queue_claim'(db) {
    if (kindOf(db) === 'sqlite') return;
    await sql`drop function igdm_claim`.execute(db);
  },
  /** The endpoints' snapshot of the moment they were made or enabled. */
  async '0028_endpoint_snapshot'(db) {
    await sql`alter table webhook_endpoints drop column dispatch_snapshot`.execute(db);
  },
  /** The jobs' mark of a runNow() asked while they ran. */
  async '0029_job_run_again'(db) {
    await sql`alter table jobs drop column run_again`.execute(db);
  },
  /** The rate windows' settle by key (PostgreSQL only): 0025's back. */
  async '0030_rate_settle_by_key'(db) {
    if (kindOf(db) === 'sqlite') return;
    await sql.raw(SETTLE_0025).execute(db);
  },
  /** A round's outcomes and claims in one call (PostgreSQL only; nothing on SQLite). */
  async '0031_queue_round'(db) {
    if (kindOf(db) === 'sqlite') return;
    await sql`drop function igdm_round`.execute(db);
  },
  /** The rate limits' batch (PostgreSQL only). */
  async '0032_rate_batch'(db) {
    if (kindOf(db) === 'sqlite') return;
    await sql`drop function igdm_rate_batch`.execute(db);
  },
};

/** Undoes the migration `from` and every later one. */
export async function undoMigrationsFrom(db: Kysely<Database>, from: keyof typeof undo) {
  for (const name of Object.keys(undo).sort().reverse()) {
    if (name < from) break;
    await undo[name]!(db);
    await sql`delete from kysely_migration where name = ${name}`.execute(db);
  }
}
