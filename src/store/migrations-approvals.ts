import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

// The migration of human-in-the-loop approvals (0023; src/approvals/): an approval asked of a
// person over DM, and the approval DM named on its message. The same for every store kind;
// migrations.ts runs it after the platform's.

export const approvalMigrations: Record<string, Migration> = {
  '0023_approvals': {
    async up(db: Kysely<unknown>) {
      // One row per approval. `fields` is JSON: visible values in clear, masked ones sealed
      // (store/secret-box.ts), concealed ones not at all (only their label). The callback's secret is
      // sealed too; its delivery (webhook_deliveries) is made with the decision, in its transaction.
      await db.schema
        .createTable('approvals')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('channel_id', 'text', (c) => c.notNull())
        .addColumn('conversation_id', 'text', (c) => c.notNull())
        .addColumn('approver', 'text', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('fields', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('approved', 'integer')
        .addColumn('responded_by', 'text')
        .addColumn('responded_at', 'bigint')
        .addColumn('decided_at', 'bigint')
        .addColumn('decided_by', 'text')
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('callback_url', 'text')
        .addColumn('callback_secret', 'text')
        .addColumn('callback_delivery_id', 'text')
        .addColumn('message_id', 'text')
        .addColumn('shortened', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      // The expiry sweep (approvals/expiry.ts): the pending ones, soonest first.
      await sql`create index approvals_expiring on approvals (expires_at) where status = 'pending'`.execute(
        db,
      );
      // An approver's answer: the approvals of their conversation.
      await db.schema
        .createIndex('approvals_conversation')
        .on('approvals')
        .columns(['conversation_id', 'status'])
        .execute();
      // The lists, newest first.
      await db.schema.createIndex('approvals_recent').on('approvals').columns(['created_at', 'id']).execute();
      await db.schema
        .createIndex('approvals_callback')
        .on('approvals')
        .column('callback_delivery_id')
        .execute();
      // The approval a message is about: the approval DM, its answers and igdm's replies to them.
      await db.schema.alterTable('messages').addColumn('approval_id', 'text').execute();
    },
  },
};
