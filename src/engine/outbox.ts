import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { messagePolicy, type PolicyRefusal, privateReplyPolicy } from '../meta/policy.ts';
import { type Content, isSenderAction, parseContent, type SendBody, sendBody } from '../meta/send.ts';
import type { Channel } from '../store/channels.ts';
import type { Database } from '../store/schema.ts';
import { contactIdOf, conversationIdOf } from './apply.ts';

// Queueing a send: the content is checked against Meta's limits and the policy, then the message
// and its outbox row are written in one transaction. Nothing touches the network here; the sender
// (sender.ts) sends what the outbox holds, once.

export class PolicyError extends Error {
  readonly reason: PolicyRefusal | 'unknown_comment';
  constructor(reason: PolicyRefusal | 'unknown_comment', message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface SendRequest {
  /** The customer's IGSID (or commentId, for a private reply). */
  to?: string;
  /** A private reply to this comment: once per comment, within 7 days of it. */
  commentId?: string;
  content: unknown;
  /** A person typed this (an agent): it may go out with HUMAN_AGENT between 24 h and 7 days. */
  humanAgent?: boolean;
  /** Quote this message (Meta's mid). */
  replyTo?: string;
  /** What caused the send (an event key and a rule): a second request with the same cause is the first. */
  causedBy?: string;
  /** Who wrote it: bot (automation), human (an agent), api (another system). Default: human when
   * humanAgent is set, else api. */
  author?: 'bot' | 'human' | 'api';
}

export interface Queued {
  /** The message row (null for sender actions: typing, mark_seen, reactions). */
  messageId: string | null;
  outboxId: string;
  content: Content;
}

const newId = (prefix: string) => `${prefix}_${randomBytes(16).toString('base64url')}`;

interface Addressed {
  body: SendBody;
  /** The customer's IGSID, when known (a comment's author may be unknown). */
  igsid: string | null;
}

/** A message to a customer: the 24-hour window, HUMAN_AGENT for people up to 7 days, no cold outreach. */
async function toCustomer(
  db: Kysely<Database>,
  channel: Channel,
  req: SendRequest,
  content: Content,
  now: number,
): Promise<Addressed> {
  const igsid = req.to ?? '';
  const conversation = await db
    .selectFrom('conversations')
    .select('lastInboundAt')
    .where('id', '=', conversationIdOf(channel.id, igsid))
    .executeTakeFirst();
  const decision = messagePolicy({
    lastInboundAt: conversation?.lastInboundAt == null ? null : Number(conversation.lastInboundAt),
    human: req.humanAgent === true,
    now,
  });
  if (!decision.allowed) throw new PolicyError(decision.reason, decision.message);
  if (isSenderAction(content) && decision.tag) {
    throw new PolicyError(
      'outside_window',
      `${content.type} can only be sent within 24 hours of the customer's last message`,
    );
  }
  const humanAgent = decision.tag === 'HUMAN_AGENT';
  return { body: sendBody({ id: igsid }, content, { replyTo: req.replyTo, humanAgent }), igsid };
}

/** A private reply: one per comment igdm has seen, within 7 days of the comment. */
async function toComment(
  db: Kysely<Database>,
  channel: Channel,
  req: SendRequest,
  content: Content,
  now: number,
): Promise<Addressed> {
  const commentId = req.commentId ?? '';
  const comment = await db
    .selectFrom('comments')
    .select(['createdAt', 'igsid'])
    .where('channelId', '=', channel.id)
    .where('commentId', '=', commentId)
    .executeTakeFirst();
  if (!comment) {
    throw new PolicyError(
      'unknown_comment',
      `No comment "${commentId}" has reached igdm (subscribe to the comments field)`,
    );
  }
  const earlier = await db
    .selectFrom('outbox')
    .select('id')
    .where('channelId', '=', channel.id)
    .where('recipient', '=', JSON.stringify({ comment_id: commentId }))
    .where('status', '!=', 'failed')
    .executeTakeFirst();
  const decision = privateReplyPolicy({
    commentedAt: Number(comment.createdAt),
    alreadyReplied: !!earlier,
    now,
  });
  if (!decision.allowed) throw new PolicyError(decision.reason, decision.message);
  return { body: sendBody({ commentId }, content, { replyTo: req.replyTo }), igsid: comment.igsid };
}

/** Validates, applies the policy and queues; throws SendValidationError or PolicyError. */
export async function queueSend(
  db: Kysely<Database>,
  channel: Channel,
  req: SendRequest,
  now = Date.now(),
): Promise<Queued> {
  const content = parseContent(req.content);
  const { body, igsid } =
    req.commentId === undefined
      ? await toCustomer(db, channel, req, content, now)
      : await toComment(db, channel, req, content, now);

  if (req.causedBy) {
    const earlier = await db
      .selectFrom('outbox')
      .select(['id', 'messageId', 'recipient'])
      .where('causedBy', '=', req.causedBy)
      .executeTakeFirst();
    if (earlier) {
      // The same cause to someone else is a bug in the caller's key, not a repeat: never merge them.
      if (earlier.recipient !== JSON.stringify(body.recipient))
        throw new Error(`causedBy "${req.causedBy}" was already used for another recipient`);
      return { messageId: earlier.messageId, outboxId: earlier.id, content };
    }
  }

  const conversationId = igsid ? conversationIdOf(channel.id, igsid) : null;
  const messageId = isSenderAction(content) || !conversationId ? null : newId('msg');
  const outboxId = newId('out');
  await db.transaction().execute(async (trx) => {
    if (messageId && conversationId && igsid) {
      // A private reply may open a conversation with someone who never wrote: it shows there. (For a
      // customer, the policy has already found the conversation.)
      const contactId = contactIdOf(channel.id, igsid);
      await trx
        .insertInto('contacts')
        .values({
          id: contactId,
          channelId: channel.id,
          igsid,
          username: null,
          name: null,
          profilePic: null,
          createdAt: now,
          updatedAt: now,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
      await trx
        .insertInto('conversations')
        .values({
          id: conversationId,
          channelId: channel.id,
          igsid,
          contactId,
          status: 'open',
          threadOwner: 'bot',
          lastInboundAt: null,
          lastMessageAt: now,
          readUpTo: null,
          readAt: null,
          createdAt: now,
          updatedAt: now,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
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
          author: req.author ?? (req.humanAgent ? 'human' : 'api'),
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
