import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

// The migrations of Instagram's platform fidelity (0017–0022): what became of each stored event,
// comments, backfills, tokens, where a conversation came from, and kept media. The same for every
// store kind; migrations.ts runs them after the earlier ones.

export const platformMigrations: Record<string, Migration> = {
  '0017_webhook_event_status': {
    async up(db: Kysely<unknown>) {
      // What became of each stored event (projection/outcomes.ts): applied, unapplied (it could
      // not be read or applied: the reason in apply_error) or ignored (deliberately not applied:
      // the reason too); null while it waits. Events applied before this knew no other outcome.
      await db.schema.alterTable('webhook_events').addColumn('apply_status', 'text').execute();
      await sql`update webhook_events
        set apply_status = case when apply_error is null then 'applied' else 'unapplied' end
        where applied_at is not null`.execute(db);
      // GET /v1/webhook-events?status=unapplied|ignored, and replay --unapplied: the few not applied.
      await sql`create index webhook_events_not_applied on webhook_events (apply_status, id)
        where apply_status in ('unapplied', 'ignored')`.execute(db);
    },
  },
  '0018_comments': {
    async up(db: Kysely<unknown>) {
      // Comments as the API lists them (api/comments.ts): the field they came in, the media's
      // product type, hidden or deleted through igdm, and the automation's public reply (once).
      const t = () => db.schema.alterTable('comments');
      await t()
        .addColumn('source', 'text', (c) => c.notNull().defaultTo('comments'))
        .execute();
      await t().addColumn('media_product_type', 'text').execute();
      await t()
        .addColumn('hidden', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await t().addColumn('deleted_at', 'bigint').execute();
      await t().addColumn('public_reply_cause', 'text').execute();
      await db.schema
        .createIndex('comments_channel_recent')
        .on('comments')
        .columns(['channel_id', 'created_at', 'id'])
        .execute();
    },
  },
  '0019_backfill': {
    async up(db: Kysely<unknown>) {
      // How an event came: 1 when igdm read it from the Conversations API after missing its webhook
      // (src/backfill/), and the messages made from such events, flagged for the API.
      await db.schema
        .alterTable('webhook_events')
        .addColumn('backfilled', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .alterTable('messages')
        .addColumn('backfilled', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
  '0020_channel_tokens': {
    async up(db: Kysely<unknown>) {
      // The Meta app a channel belongs to (debug_token, data deletion requests); not a secret.
      await db.schema.alterTable('channels').addColumn('app_id', 'text').execute();
      // What igdm knows of each channel's access token (channels/token-keeper.ts): which token
      // (a SHA-256 digest, never the token), since when, until when, and why it could not be
      // refreshed. A token changed by other means (the API, the environment) starts a new record.
      await db.schema
        .createTable('channel_tokens')
        .addColumn('channel_id', 'text', (c) => c.primaryKey().references('channels.id'))
        .addColumn('token_digest', 'text', (c) => c.notNull())
        .addColumn('known_since', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('refreshed_at', 'bigint')
        .addColumn('problem', 'text')
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      // Meta's data deletion requests (api/data-deletion.ts): the confirmation code, and what was
      // erased. Not the person's id: that is what was asked to go.
      await db.schema
        .createTable('data_deletion_requests')
        .addColumn('code', 'text', (c) => c.primaryKey())
        .addColumn('channel_id', 'text')
        .addColumn('contacts', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0021_conversation_source': {
    async up(db: Kysely<unknown>) {
      // The first referral of a conversation (an ig.me link or an ad: where the customer came
      // from), as JSON, and its Meta time: an earlier one delivered late still wins.
      await db.schema.alterTable('conversations').addColumn('source', 'text').execute();
      await db.schema.alterTable('conversations').addColumn('source_at', 'bigint').execute();
    },
  },
  '0022_kept_media': {
    async up(db: Kysely<unknown>) {
      // Copies of inbound media (Meta's CDN links expire), one row per message attachment:
      // kept (the file's path), or why not (failed, too_large).
      await db.schema
        .createTable('kept_media')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('conversation_id', 'text', (c) => c.notNull())
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('attachment_index', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('file', 'text')
        .addColumn('content_type', 'text')
        .addColumn('bytes', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('kept_media_message').on('kept_media').column('message_id').execute();
      await db.schema
        .createIndex('kept_media_conversation')
        .on('kept_media')
        .column('conversation_id')
        .execute();
      await db.schema
        .createIndex('kept_media_age')
        .on('kept_media')
        .columns(['status', 'created_at'])
        .execute();
    },
  },
};
