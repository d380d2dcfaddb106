import type { Kysely, Transaction } from 'kysely';
import { messagePolicy, type PolicyRefusal, privateReplyPolicy } from '../meta/policy.ts';
import { type Content, isSenderAction, parseContent, type SendBody, sendBody } from '../meta/send.ts';
import type { JobQueue } from '../queue/queue.ts';
import type { QueuedHere } from '../send/queued-here.ts';
import { SEND_QUEUE, sendJob } from '../send/send-jobs.ts';
import { windowRefusal } from '../send/window.ts';
import type { Channel } from '../store/channels.ts';
import { eventWrites, recordEvents } from '../store/events.ts';
import { contactIdOf, conversationIdOf } from '../store/ids.ts';
import { together, type Write } from '../store/prepared.ts';
import type { Database, OutboxTable } from '../store/schema.ts';
import { newId, q } from './outbox-statements.ts';

// Queueing a send: the content is checked against Meta's limits and the policy, then the message
// and its outbox row are written in one transaction, with the job that sends it (send/send-jobs.ts).
// Nothing touches the network here; the sender (send/sender.ts) runs those jobs.

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
  /** Who wrote it: bot (automation), human (an agent), api (another system), approval (an
   * approval's DM or igdm's reply to an answer). Default: human when humanAgent is set, else api. */
  author?: 'bot' | 'human' | 'api' | 'approval';
  /** The person who wrote it, when their API key names them. */
  agent?: string;
  /** The approval the message is about (src/approvals/). */
  approvalId?: string;
  /** More writes that exist exactly when the send does: run in its transaction. */
  also?: (
    trx: Transaction<Database>,
    queued: { messageId: string | null; outboxId: string },
  ) => Promise<void>;
}

export interface Queued {
  /** The message row (null for sender actions: typing, mark_seen, reactions). */
  messageId: string | null;
  outboxId: string;
  content: Content;
}

interface Addressed {
  body: SendBody;
  /** The customer's IGSID, when known (a comment's author may be unknown). */
  igsid: string | null;
  /** The conversation with them is stored already. */
  conversationExists?: boolean;
}

/** A customer's conversation (its window), and the send of `causedBy` if there is one. */
async function windowAndCause(db: Kysely<Database>, conversationId: string, causedBy: string | undefined) {
  const r = await q.windowAndCause.first(db, { conversationId, causedBy: causedBy ?? null });
  return {
    conversation:
      r?.conversationId == null
        ? undefined
        : { lastInboundAt: r.lastInboundAt == null ? null : Number(r.lastInboundAt) },
    earlier:
      r?.earlierId == null
        ? undefined
        : { id: r.earlierId, messageId: r.earlierMessageId ?? null, recipient: r.earlierRecipient ?? '' },
  };
}

/** A message to a customer: the 24-hour window, HUMAN_AGENT for people up to 7 days, no cold outreach. */
function toCustomer(
  req: SendRequest,
  content: Content,
  now: number,
  conversation: { lastInboundAt: number | null } | undefined,
): Addressed {
  const igsid = req.to ?? '';
  const decision = messagePolicy({
    lastInboundAt: conversation?.lastInboundAt ?? null,
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
  return {
    body: sendBody({ id: igsid }, content, { replyTo: req.replyTo, humanAgent }),
    igsid,
    conversationExists: conversation !== undefined,
  };
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
  await checkPrivateReply(db, channel.id, commentId, Number(comment.createdAt), now);
  return { body: sendBody({ commentId }, content, { replyTo: req.replyTo }), igsid: comment.igsid };
}

/** One private reply per comment (failed ones aside), within 7 days of it; throws PolicyError. */
async function checkPrivateReply(
  db: Kysely<Database>,
  channelId: string,
  commentId: string,
  commentedAt: number,
  now: number,
) {
  const earlier = await db
    .selectFrom('outbox')
    .select('id')
    .where('channelId', '=', channelId)
    .where('recipient', '=', JSON.stringify({ comment_id: commentId }))
    .where('status', '!=', 'failed')
    .executeTakeFirst();
  const decision = privateReplyPolicy({ commentedAt, alreadyReplied: !!earlier, now });
  if (!decision.allowed) throw new PolicyError(decision.reason, decision.message);
}

/** Validates, applies the policy and queues; throws SendValidationError or PolicyError. */
export async function queueSend(
  db: Kysely<Database>,
  jobs: Pick<JobQueue, 'enqueue' | 'wake'>,
  channel: Channel,
  req: SendRequest,
  now = Date.now(),
  /** Where a customer's send is remembered for this process's sender (send/queued-here.ts). */
  queuedHere?: QueuedHere,
): Promise<Queued> {
  const content = parseContent(req.content);
  if (req.causedBy && req.commentId !== undefined) {
    // A private reply's cause asked again (an automation job run twice) is the first reply: it is
    // found before the policy, which would call it a second reply to the comment.
    const earlier = await q.byCause.first(db, { causedBy: req.causedBy });
    if (earlier && earlier.recipient === JSON.stringify({ comment_id: req.commentId }))
      return { messageId: earlier.messageId, outboxId: earlier.id, content };
  }
  // To a customer: the conversation's window and an earlier send of the cause, in one round trip.
  const seen =
    req.commentId === undefined
      ? await windowAndCause(db, conversationIdOf(channel.id, req.to ?? ''), req.causedBy)
      : undefined;
  const { body, igsid, conversationExists } = seen
    ? toCustomer(req, content, now, seen.conversation)
    : await toComment(db, channel, req, content, now);

  if (req.causedBy) {
    const earlier = seen ? seen.earlier : await q.byCause.first(db, { causedBy: req.causedBy });
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
  // The outbox row, as it is written and as this process's sender may take it (queued-here.ts).
  const row = {
    id: outboxId,
    channelId: channel.id,
    messageId,
    conversationId,
    kind: content.type,
    body: JSON.stringify(body),
    human: req.humanAgent ? 1 : 0,
  };
  const recipient = JSON.stringify(body.recipient);
  await db.transaction().execute(async (trx) => {
    // One statement on PostgreSQL (together()): the message, the conversation's touch, the outbox row.
    const writes: Write[] = [];
    if (messageId && conversationId && igsid) {
      // A private reply may open a conversation with someone who never wrote: it shows there. (For a
      // customer, the policy has already found the conversation.)
      if (!conversationExists) {
        const contactId = contactIdOf(channel.id, igsid);
        await together(trx, [
          [q.insertContact, { id: contactId, channelId: channel.id, igsid, now }],
          [
            q.insertConversation,
            { id: conversationId, channelId: channel.id, igsid, contactId, at: now, now },
          ],
        ]);
      }
      const message = body.message as { text?: string; attachment?: unknown };
      writes.push([
        q.insertMessage,
        {
          id: messageId,
          channelId: channel.id,
          conversationId,
          type: content.type,
          text: message.text ?? null,
          attachments: JSON.stringify(message.attachment ? [message.attachment] : []),
          replyTo: req.replyTo ? JSON.stringify({ mid: req.replyTo }) : null,
          author: req.author ?? (req.humanAgent ? 'human' : 'api'),
          agent: req.agent ?? null,
          approvalId: req.approvalId ?? null,
          now,
        },
      ]);
      writes.push([q.touchConversation, { id: conversationId, now }]);
    }
    writes.push([q.insertOutbox, { ...row, recipient, causedBy: req.causedBy ?? null, now }]);
    await together(trx, [
      ...writes,
      ...eventWrites(
        [
          {
            event: 'message.queued',
            channelId: channel.id,
            conversationId,
            data: {
              messageId,
              outboxId,
              conversationId,
              type: content.type,
              author: req.author ?? null,
              agent: req.agent ?? null,
            },
          },
        ],
        now,
      ),
    ]);
    await jobs.enqueue(trx, [
      sendJob({ id: outboxId, channelId: channel.id, conversationId, recipient, createdAt: now }),
    ]);
    await req.also?.(trx, { messageId, outboxId });
  });
  // Before the wake that claims its job.
  if (seen && queuedHere)
    queuedHere.remember({
      ...row,
      attempts: 0,
      createdAt: now,
      lastInboundAt: seen.conversation?.lastInboundAt ?? null,
    });
  jobs.wake(SEND_QUEUE);
  return { messageId, outboxId, content };
}

/** The send of a message that failed, as its outbox row has it. */
export type FailedSend = Pick<
  OutboxTable,
  'messageId' | 'channelId' | 'conversationId' | 'recipient' | 'kind' | 'body' | 'human'
>;

/**
 * Sends a failed message again: the same body to the same person, as a new outbox row and send job,
 * with the policy checked again now (throws PolicyError: the window may have closed since). The
 * message itself goes back to queued, its error cleared, so the conversation shows it once. Null
 * when the message is no longer failed (another retry took it first).
 */
export async function queueRetry(
  db: Kysely<Database>,
  jobs: Pick<JobQueue, 'enqueue' | 'wake'>,
  failed: FailedSend & { messageId: string },
  now = Date.now(),
): Promise<{ outboxId: string } | null> {
  const body = JSON.parse(failed.body) as SendBody;
  if ('comment_id' in body.recipient) {
    const commentId = body.recipient.comment_id;
    const comment = await db
      .selectFrom('comments')
      .select('createdAt')
      .where('channelId', '=', failed.channelId)
      .where('commentId', '=', commentId)
      .executeTakeFirst();
    if (!comment) throw new PolicyError('unknown_comment', `No comment "${commentId}" has reached igdm`);
    await checkPrivateReply(db, failed.channelId, commentId, Number(comment.createdAt), now);
  } else {
    // The tag is decided again: the customer may have written since (no tag needed), or 24 hours
    // may have passed (a person's message needs HUMAN_AGENT now).
    delete body.tag;
    body.messaging_type = 'RESPONSE';
    const refusal = await windowRefusal(db, failed, body, now);
    if (refusal) throw new PolicyError(refusal.reason as PolicyRefusal, refusal.message);
  }
  const outboxId = newId('out');
  const requeued = await db.transaction().execute(async (trx) => {
    const taken = await trx
      .updateTable('messages')
      .set({ status: 'queued', error: null, updatedAt: now })
      .where('id', '=', failed.messageId)
      .where('status', '=', 'failed')
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows) === 0) return false;
    await q.insertOutbox.run(trx, {
      id: outboxId,
      channelId: failed.channelId,
      messageId: failed.messageId,
      conversationId: failed.conversationId,
      recipient: failed.recipient,
      kind: failed.kind,
      body: JSON.stringify(body),
      human: failed.human,
      causedBy: null,
      now,
    });
    const queued = {
      messageId: failed.messageId,
      outboxId,
      conversationId: failed.conversationId,
      retry: true,
    };
    await recordEvents(
      trx,
      [
        {
          event: 'message.queued',
          channelId: failed.channelId,
          conversationId: failed.conversationId,
          data: queued,
        },
      ],
      now,
    );
    await jobs.enqueue(trx, [
      sendJob({
        id: outboxId,
        channelId: failed.channelId,
        conversationId: failed.conversationId,
        recipient: failed.recipient,
        createdAt: now,
      }),
    ]);
    return true;
  });
  if (!requeued) return null;
  jobs.wake(SEND_QUEUE);
  return { outboxId };
}
