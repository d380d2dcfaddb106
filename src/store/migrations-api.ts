import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { StoreKind } from './dialect.ts';
import { messageSearch, messageSearchPostgres } from './migration-steps.ts';

// The migrations of the API's era (0009–0016): channels and API keys managed through the API, the
// event log, the inbox (assignees, notes, search), outbound webhooks, contact erasures, saved
// replies, and the inbox's indexes. migrations.ts runs them after the first ones.

export const apiMigrations = (kind: StoreKind): Record<string, Migration> => ({
  '0009_channels_api': {
    async up(db: Kysely<unknown>) {
      // Channels managed through the API (store/channels.ts): a name, how the account logs in
      // (Instagram or Facebook Login), when it was deleted (its history stays), and for the
      // environment's `default` channel, the fields set through the API with what the environment
      // said then (sealed: it may hold secrets), so an API value wins until the environment changes.
      await db.schema.alterTable('channels').addColumn('name', 'text').execute();
      await db.schema
        .alterTable('channels')
        .addColumn('login', 'text', (c) => c.notNull().defaultTo('instagram'))
        .execute();
      await db.schema.alterTable('channels').addColumn('deleted_at', 'bigint').execute();
      await db.schema.alterTable('channels').addColumn('api_fields', 'text').execute();
    },
  },
  '0010_api_keys': {
    async up(db: Kysely<unknown>) {
      // API keys made through the API (store/api-keys.ts): kept as the SHA-256 of the key (shown
      // once), with what the key may do (scopes), which channels it sees (null: all), and the agent
      // (a person) it belongs to. A revoked key stays, for the record.
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('agent', 'text')
        .addColumn('channels', 'text')
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('hint', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute();
      // The agent who wrote an outbound message, when a person's key sent it.
      await db.schema.alterTable('messages').addColumn('agent', 'text').execute();
    },
  },
  '0011_events': {
    async up(db: Kysely<unknown>) {
      // The event log (src/events/): what happened, written in the transaction of the change it
      // reports; its id is the stream's cursor (on SQLite ids grow in commit order, one writer at a
      // time; PostgreSQL's readers follow the writing transaction too, 0024).
      // An event derived from a webhook event has a dedup key, so a replay adds none twice.
      await db.schema
        .createTable('events')
        .addColumn('id', kind === 'sqlite' ? 'integer' : 'bigint', (c) =>
          kind === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey().generatedAlwaysAsIdentity(),
        )
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('conversation_id', 'text')
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('dedup_key', 'text', (c) => c.unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0012_inbox': {
    async up(db: Kysely<unknown>) {
      // The agent who handles the conversation (a name), and how far agents have read it: inbound
      // messages created after this time are unread.
      await db.schema.alterTable('conversations').addColumn('assignee', 'text').execute();
      await db.schema.alterTable('conversations').addColumn('agent_read_up_to', 'bigint').execute();
      // Internal notes: written by agents, never sent to the customer.
      await db.schema
        .createTable('conversation_notes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('conversation_id', 'text', (c) => c.notNull().references('conversations.id'))
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('author', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('conversation_notes_conversation')
        .on('conversation_notes')
        .columns(['conversation_id', 'created_at', 'id'])
        .execute();
      await (kind === 'sqlite' ? messageSearch(db) : messageSearchPostgres(db));
    },
  },
  '0013_webhook_endpoints': {
    async up(db: Kysely<unknown>) {
      // Outbound webhooks (src/deliveries/). An endpoint: where to POST which events, its signing
      // secret (sealed; the previous one too while it is being rotated), and how far into the event
      // log its deliveries have been made.
      await db.schema
        .createTable('webhook_endpoints')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('events', 'text', (c) => c.notNull())
        .addColumn('channels', 'text')
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('previous_secret', 'text')
        .addColumn('previous_secret_until', 'bigint')
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('dispatched_up_to', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      // A delivery: one event to one endpoint, or one rule's `webhook` action; tried until it
      // succeeds or its time runs out. A rule's delivery keeps its body (an endpoint's is the event).
      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('endpoint_id', 'text')
        .addColumn('rule', 'text')
        .addColumn('url', 'text')
        .addColumn('event_id', 'bigint')
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('conversation_id', 'text')
        .addColumn('webhook_id', 'text', (c) => c.notNull())
        .addColumn('body', 'text')
        .addColumn('dedup_key', 'text', (c) => c.notNull().unique())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('retry_until', 'bigint', (c) => c.notNull())
        .addColumn('next_attempt_at', 'bigint')
        .addColumn('last_status', 'integer')
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_endpoint')
        .on('webhook_deliveries')
        .columns(['endpoint_id', 'created_at', 'id'])
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_created')
        .on('webhook_deliveries')
        .columns(['created_at', 'id'])
        .execute();
      await db.schema
        .createTable('webhook_attempts')
        .addColumn('delivery_id', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('status', 'integer')
        .addColumn('error', 'text')
        .addColumn('response', 'text')
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('webhook_attempts_pk', ['delivery_id', 'attempt'])
        .execute();
    },
  },
  '0014_contact_erasures': {
    async up(db: Kysely<unknown>) {
      // Contacts whose data was erased (store/erasure.ts): who, when, by which key, and how many
      // rows of each kind went. No personal data: the contact id is a hash of the channel and the
      // IGSID, kept so that a repeated request is recognised.
      await db.schema
        .createTable('contact_erasures')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .addColumn('channel_id', 'text', (c) => c.notNull().references('channels.id'))
        .addColumn('key_id', 'text')
        .addColumn('agent', 'text')
        .addColumn('counts', 'text', (c) => c.notNull())
        .addColumn('erased_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('contact_erasures_contact')
        .on('contact_erasures')
        .columns(['contact_id', 'erased_at'])
        .execute();
    },
  },
  '0015_saved_replies': {
    async up(db: Kysely<unknown>) {
      // The team's saved replies (store/saved-replies.ts), found by their shortcut.
      await db.schema
        .createTable('saved_replies')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('shortcut', 'text', (c) => c.notNull().unique())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0016_inbox_indexes': {
    async up(db: Kysely<unknown>) {
      // The conversation list of one channel (a filter, or a key limited to channels), newest first
      // (bench/api: 14.5 → 1.7 ms), and the unread count, whose predicate (conversations.ts,
      // unreadOf) this partial index repeats word for word so that SQLite uses it.
      await db.schema
        .createIndex('conversations_channel_recent')
        .on('conversations')
        .columns(['channel_id', 'last_message_at', 'id'])
        .execute();
      await sql`create index messages_unread on messages (conversation_id, created_at)
        where direction = 'inbound' and deleted_at is null and type != 'unknown'`.execute(db);
    },
  },
});
