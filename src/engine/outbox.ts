import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { messagePolicy, type PolicyRefusal } from '../meta/policy.ts';
import { type Content, isSenderAction, parseContent, sendBody } from '../meta/send.ts';
import type { Channel } from '../store/channels.ts';
import type { Database } from '../store/schema.ts';
import { conversationIdOf } from './apply.ts';

// Queueing a send: the content is checked against Meta's limits and the policy, then the message
// and its outbox row are written in one transaction. Nothing touches the network here; the sender
// (sender.ts) sends what the outbox holds, once.

export class PolicyError extends Error {
  readonly reason: PolicyRefusal;
  constructor(reason: PolicyRefusal, message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface SendRequest {
  /** The customer's IGSID. */
  to: string;
  content: unknown;
  /** A person typed this (an agent): it may go out with HUMAN_AGENT between 24 h and 7 days. */
  humanAgent?: boolean;
  /** Quote this message (Meta's mid). */
  replyTo?: string;
  /** What caused the send (an event key and a rule): a second request with the same cause is the first. */
  causedBy?: string;
}

export interface Queued {
  /** The message row (null for sender actions: typing, mark_seen, reactions). */
  messageId: string | null;
  outboxId: string;
  content: Content;
}

const newId = (prefix: string) => `${prefix}_${randomBytes(16).toString('base64url')}`;

/** Validates, applies the policy and queues; throws SendValidationError or PolicyError. */
export async function queueSend(
  db: Kysely<Database>,
  channel: Channel,
  req: SendRequest,
  now = Date.now(),
): Promise<Queued> {
  const content = parseContent(req.content);
  const conversationId = conversationIdOf(channel.id, req.to);
  const conversation = await db
    .selectFrom('conversations')
    .select(['id', 'lastInboundAt'])
    .where('id', '=', conversationId)
    .executeTakeFirst();
  const decision = messagePolicy({
    lastInboundAt: conversation?.lastInboundAt == null ? null : Number(conversation.lastInboundAt),
    human: req.humanAgent === true,
    now,
  });
  if (!decision.allowed) throw new PolicyError(decision.reason, decision.message);
  const action = isSenderAction(content);
  if (action && decision.tag) {
    throw new PolicyError(
      'outside_window',
      `${content.type} can only be sent within 24 hours of the customer's last message`,
    );
  }
  const body = sendBody({ id: req.to }, content, {
    replyTo: req.replyTo,
    humanAgent: decision.tag === 'HUMAN_AGENT',
  });

  if (req.causedBy) {
    const earlier = await db
      .selectFrom('outbox')
      .select(['id', 'messageId'])
      .where('causedBy', '=', req.causedBy)
      .executeTakeFirst();
    if (earlier) return { messageId: earlier.messageId, outboxId: earlier.id, content };
  }

  const messageId = action ? null : newId('msg');
  const outboxId = newId('out');
  await db.transaction().execute(async (trx) => {
    if (messageId) {
      const message = body.message as { text?: string; attachment?: unknown };
      await trx
        .insertInto('messages')
        .values({
          id: messageId,
          channelId: channel.id,
          conversationId,
          mid: null,
          direction: 'outbound',
          type: content.type,
          text: message.text ?? null,
          attachments: JSON.stringify(message.attachment ? [message.attachment] : []),
          replyTo: req.replyTo ? JSON.stringify({ mid: req.replyTo }) : null,
          payload: null,
          referral: null,
          reactions: '[]',
          status: 'queued',
          isEcho: 0,
          editedAt: null,
          deletedAt: null,
          seenAt: null,
          error: null,
          createdAt: now,
          updatedAt: now,
        })
        .execute();
      await trx
        .updateTable('conversations')
        .set({ lastMessageAt: now, updatedAt: now })
        .where('id', '=', conversationId)
        .execute();
    }
    await trx
      .insertInto('outbox')
      .values({
        id: outboxId,
        channelId: channel.id,
        messageId,
        conversationId,
        recipient: JSON.stringify(body.recipient),
        kind: content.type,
        body: JSON.stringify(body),
        human: req.humanAgent ? 1 : 0,
        status: 'queued',
        attempts: 0,
        nextAttemptAt: now,
        mid: null,
        error: null,
        causedBy: req.causedBy ?? null,
        createdAt: now,
        updatedAt: now,
        sentAt: null,
      })
      .execute();
  });
  return { messageId, outboxId, content };
}
