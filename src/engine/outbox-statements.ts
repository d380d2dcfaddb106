import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { insertContact, type NewContact } from '../store/contacts.ts';
import { insertConversation, type NewConversation } from '../store/conversations.ts';
import { builder } from '../store/index.ts';
import { compile, param as p } from '../store/prepared.ts';
import type { OutboxTable } from '../store/schema.ts';

// The statements of queueing a send (outbox.ts), compiled once (store/prepared.ts), and the ids of
// what it writes.

const at = p<number>('now');
/** The statements of every send, compiled once (store/prepared.ts). */
export const q = {
  byCause: compile<{ causedBy: string }, { id: string; messageId: string | null; recipient: string }>(
    builder
      .selectFrom('outbox')
      .select(['id', 'messageId', 'recipient'])
      .where('causedBy', '=', p<string>('causedBy')),
  ),
  /** A conversation's window and the send of a cause, if any: one row, nulls for what is not there. */
  windowAndCause: compile<
    { conversationId: string; causedBy: string | null },
    {
      conversationId: string | null;
      lastInboundAt: number | null;
      earlierId: string | null;
      earlierMessageId: string | null;
      earlierRecipient: string | null;
    }
  >(
    sql`select c.id as conversation_id, c.last_inbound_at, o.id as earlier_id,
        o.message_id as earlier_message_id, o.recipient as earlier_recipient
      from (select 1 as one) x
      left join conversations c on c.id = ${p('conversationId')}
      left join outbox o on o.caused_by = ${p('causedBy')}
      limit 1`,
  ),
  insertContact: compile<NewContact>(insertContact(builder)),
  insertConversation: compile<NewConversation>(insertConversation(builder)),
  insertMessage: compile<{
    id: string;
    channelId: string;
    conversationId: string;
    type: string;
    text: string | null;
    attachments: string;
    replyTo: string | null;
    author: string;
    agent: string | null;
    approvalId: string | null;
    now: number;
  }>(
    builder.insertInto('messages').values({
      id: p('id'),
      channelId: p('channelId'),
      conversationId: p('conversationId'),
      mid: null,
      direction: 'outbound',
      type: p('type'),
      text: p('text'),
      attachments: p('attachments'),
      replyTo: p('replyTo'),
      payload: null,
      referral: null,
      reactions: '[]',
      status: 'queued',
      isEcho: 0,
      editedAt: null,
      deletedAt: null,
      seenAt: null,
      error: null,
      author: p('author'),
      agent: p('agent'),
      approvalId: p('approvalId'),
      createdAt: at,
      updatedAt: at,
    }),
  ),
  touchConversation: compile<{ id: string; now: number }>(
    builder
      .updateTable('conversations')
      .set({ lastMessageAt: at, updatedAt: at })
      .where('id', '=', p<string>('id')),
  ),
  insertOutbox: compile<
    Pick<
      OutboxTable,
      | 'id'
      | 'channelId'
      | 'messageId'
      | 'conversationId'
      | 'recipient'
      | 'kind'
      | 'body'
      | 'human'
      | 'causedBy'
    > & { now: number }
  >(
    builder.insertInto('outbox').values({
      id: p('id'),
      channelId: p('channelId'),
      messageId: p('messageId'),
      conversationId: p('conversationId'),
      recipient: p('recipient'),
      kind: p('kind'),
      body: p('body'),
      human: p('human'),
      status: 'queued',
      attempts: 0,
      nextAttemptAt: at,
      mid: null,
      error: null,
      causedBy: p('causedBy'),
      createdAt: at,
      updatedAt: at,
      sentAt: null,
    }),
  ),
};

let lastSeq = 0;
/**
 * Ids that sort in the order they were made in this process (a time in µs, never repeated, then
 * random bytes): a customer's rows go out in (created_at, id) order, and rows queued within one
 * millisecond (or under a frozen clock) tie on created_at.
 */
export const newId = (prefix: string) => {
  lastSeq = Math.max(Date.now() * 1000, lastSeq + 1);
  return `${prefix}_${lastSeq.toString(36).padStart(11, '0')}${randomBytes(12).toString('base64url')}`;
};
