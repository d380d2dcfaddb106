import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { StoreKind } from './dialect.ts';
import { addSendJobs } from './migration-steps.ts';
import { apiMigrations } from './migrations-api.ts';
import { approvalMigrations } from './migrations-approvals.ts';
import { cursorMigrations } from './migrations-cursor.ts';
import { endpointMigrations } from './migrations-endpoints.ts';
import { noticeMigrations } from './migrations-notices.ts';
import { platformMigrations } from './migrations-platform.ts';
import { queueMigrations } from './migrations-queue.ts';
import { sharedLimitsMigrations } from './migrations-shared-limits.ts';

// Versioned migrations, run at start (migrate.ts). Written once for both stores: only the id columns
// of the append-only tables (SQLite's rowid alias vs PostgreSQL's identity column) and the search
// index (SQLite's FTS5 vs PostgreSQL's tsvector) differ. The first ones (0001–0008) are here; the
// later ones, era by era, in the migrations-*.ts modules.

export function migrations(kind: StoreKind): Record<string, Migration> {
  return {
    '0001_initial': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('channels')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('account_id', 'text', (c) => c.unique())
          .addColumn('page_id', 'text')
          .addColumn('secrets', 'text', (c) => c.notNull())
          .addColumn('graph_api_url', 'text', (c) => c.notNull())
          .addColumn('graph_api_version', 'text', (c) => c.notNull())
          .addColumn('allow_sha1', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('status', 'text', (c) => c.notNull().defaultTo('ok'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('webhook_events')
          .addColumn('id', kind === 'sqlite' ? 'integer' : 'bigint', (c) =>
            kind === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey().generatedAlwaysAsIdentity(),
          )
          .addColumn('dedup_key', 'text', (c) => c.notNull().unique())
          .addColumn('channel_id', 'text')
          .addColumn('object', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('entry_id', 'text')
          .addColumn('entry_time', 'bigint')
          .addColumn('igsid', 'text')
          .addColumn('meta_timestamp', 'bigint', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('received_at', 'bigint', (c) => c.notNull())
          .addColumn('applied_at', 'bigint')
          .addColumn('apply_error', 'text')
          .execute();
        // The projector's work list: events not applied yet, in Meta's order.
        await sql`create index webhook_events_unapplied on webhook_events (meta_timestamp, id) where applied_at is null`.execute(
          db,
        );

        await db.schema
          .createTable('contacts')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('channel_id', 'text', (c) => c.notNull().references('channels.id'))
          .addColumn('igsid', 'text', (c) => c.notNull())
          .addColumn('username', 'text')
          .addColumn('name', 'text')
          .addColumn('profile_pic', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addUniqueConstraint('contacts_channel_igsid', ['channel_id', 'igsid'])
          .execute();

        await db.schema
          .createTable('conversations')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('channel_id', 'text', (c) => c.notNull().references('channels.id'))
          .addColumn('igsid', 'text', (c) => c.notNull())
          .addColumn('contact_id', 'text', (c) => c.notNull().references('contacts.id'))
          .addColumn('status', 'text', (c) => c.notNull().defaultTo('open'))
          .addColumn('thread_owner', 'text', (c) => c.notNull().defaultTo('bot'))
          .addColumn('last_inbound_at', 'bigint')
          .addColumn('last_message_at', 'bigint')
          .addColumn('read_up_to', 'bigint')
          .addColumn('read_at', 'bigint')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addUniqueConstraint('conversations_channel_igsid', ['channel_id', 'igsid'])
          .execute();
        await db.schema
          .createIndex('conversations_recent')
          .on('conversations')
          .columns(['last_message_at', 'id'])
          .execute();

        await db.schema
          .createTable('messages')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('channel_id', 'text', (c) => c.notNull().references('channels.id'))
          .addColumn('conversation_id', 'text', (c) => c.notNull().references('conversations.id'))
          .addColumn('mid', 'text') // null until Meta accepts a message igdm sends
          .addColumn('direction', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('text', 'text')
          .addColumn('attachments', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('reply_to', 'text')
          .addColumn('payload', 'text')
          .addColumn('referral', 'text')
          .addColumn('reactions', 'text', (c) => c.notNull().defaultTo('[]'))
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('is_echo', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('edited_at', 'bigint')
          .addColumn('deleted_at', 'bigint')
          .addColumn('seen_at', 'bigint')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('messages_conversation')
          .on('messages')
          .columns(['conversation_id', 'created_at', 'id'])
          .execute();

        await db.schema
          .createTable('settings')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
      },
    },
    '0002_outbox': {
      async up(db: Kysely<unknown>) {
        // Every send is a row here before any network call, so a queued send survives a crash.
        await db.schema
          .createTable('outbox')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('channel_id', 'text', (c) => c.notNull().references('channels.id'))
          .addColumn('message_id', 'text') // null for sender actions (typing, seen, reactions)
          .addColumn('conversation_id', 'text')
          .addColumn('recipient', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('human', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
          .addColumn('mid', 'text')
          .addColumn('error', 'text')
          .addColumn('caused_by', 'text', (c) => c.unique())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('sent_at', 'bigint')
          .execute();
        await db.schema
          .createIndex('outbox_due')
          .on('outbox')
          .columns(['status', 'next_attempt_at'])
          .execute();
        // Echoes of what igdm sent are found by Meta's mid.
        await sql`create unique index outbox_mid on outbox (channel_id, mid) where mid is not null`.execute(
          db,
        );
        await db.schema.alterTable('messages').addColumn('error', 'text').execute();
        // Comments on the account's posts: a private reply may answer each once, within 7 days.
        await db.schema
          .createTable('comments')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('channel_id', 'text', (c) => c.notNull().references('channels.id'))
          .addColumn('comment_id', 'text', (c) => c.notNull())
          .addColumn('igsid', 'text')
          .addColumn('username', 'text')
          .addColumn('text', 'text')
          .addColumn('media_id', 'text')
          .addColumn('parent_id', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addUniqueConstraint('comments_channel_comment', ['channel_id', 'comment_id'])
          .execute();
        // When the contact's profile was last asked of Meta (it is refreshed daily).
        await db.schema.alterTable('contacts').addColumn('profile_checked_at', 'bigint').execute();
      },
    },
    '0003_conversation_state': {
      async up(db: Kysely<unknown>) {
        // What the conversation is about (enquiry, order, collab, support, general) and its tags.
        await db.schema.alterTable('conversations').addColumn('intent', 'text').execute();
        await db.schema
          .alterTable('conversations')
          .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
          .execute();
      },
    },
    '0004_engine': {
      async up(db: Kysely<unknown>) {
        // The embedded queue (src/queue/embedded.ts): one row per unit of work. Only the oldest
        // unfinished job of a key (a conversation) can be claimed, so one conversation's work runs
        // one at a time, in Meta's order.
        await db.schema
          .createTable('jobs')
          .addColumn('id', kind === 'sqlite' ? 'integer' : 'bigint', (c) =>
            kind === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey().generatedAlwaysAsIdentity(),
          )
          .addColumn('queue', 'text', (c) => c.notNull())
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('order_at', 'bigint', (c) => c.notNull())
          .addColumn('dedup_key', 'text', (c) => c.notNull().unique())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('run_at', 'bigint', (c) => c.notNull())
          .addColumn('locked_until', 'bigint')
          .addColumn('error', 'text')
          .addColumn('result', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('finished_at', 'bigint')
          .execute();
        await sql`create index jobs_unfinished on jobs (queue, key, order_at, id) where status in ('ready', 'active')`.execute(
          db,
        );
        await sql`create index jobs_due on jobs (queue, run_at) where status = 'ready'`.execute(db);
        await sql`create index jobs_finished on jobs (status, finished_at) where status in ('done', 'dead')`.execute(
          db,
        );
        // Who wrote a message: customer, bot (automation), human (an agent, or the Instagram app),
        // api (a system through /v1 without humanAgent).
        await db.schema.alterTable('messages').addColumn('author', 'text').execute();
        // Story mentions: who mentioned the account in which story, and whether igdm thanked them.
        await db.schema
          .createTable('story_mentions')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('channel_id', 'text', (c) => c.notNull().references('channels.id'))
          .addColumn('conversation_id', 'text', (c) => c.notNull())
          .addColumn('igsid', 'text', (c) => c.notNull())
          .addColumn('mid', 'text', (c) => c.notNull())
          .addColumn('story_id', 'text')
          .addColumn('media_url', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('story_mentions_conversation')
          .on('story_mentions')
          .columns(['conversation_id', 'created_at'])
          .execute();
      },
    },
    '0005_job_claims': {
      async up(db: Kysely<unknown>) {
        // A claim walks ready jobs in order and stops at the first claimable ones; without this it
        // sorted every ready job (and checked each one's key) on every claim, so a backlog made each
        // claim slower (13 ms with a few thousand waiting, measured by bench/e2e).
        await sql`create index jobs_ready_order on jobs (queue, order_at, id) where status = 'ready'`.execute(
          db,
        );
        // The lease timer's min(locked_until) over running jobs only.
        await sql`create index jobs_active_lease on jobs (locked_until) where status = 'active'`.execute(db);
      },
    },
    '0006_outbox_sent': {
      async up(db: Kysely<unknown>) {
        // The sends of the last rate-limit window, read at start so that a restart does not begin
        // with empty windows (send/sender.ts, primeLimiter).
        await sql`create index outbox_sent on outbox (sent_at) where sent_at is not null`.execute(db);
      },
    },
    '0007_possible_duplicate': {
      async up(db: Kysely<unknown>) {
        // A send made again though Meta could not say whether the first went (send/reconcile.ts).
        await db.schema
          .alterTable('messages')
          .addColumn('possible_duplicate', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
      },
    },
    '0008_send_jobs': { up: addSendJobs },
    ...apiMigrations(kind),
    ...platformMigrations,
    ...approvalMigrations,
    ...cursorMigrations(kind),
    ...sharedLimitsMigrations(kind),
    ...noticeMigrations(kind),
    ...queueMigrations(kind),
    ...endpointMigrations(),
  };
}
