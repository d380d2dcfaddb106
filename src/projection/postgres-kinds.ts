import type { DomainEvent } from '../meta/events.ts';
import { argsOf } from '../store/events.ts';
import { commentIdOf, conversationIdOf, messageIdOf } from '../store/ids.ts';
import type { Write } from '../store/prepared.ts';
import { type ConversationKind, content, ids, messageType, type Of, type Reaction } from './kinds.ts';
import type { AsyncStatements } from './postgres-statements.ts';
import type { MessageArgs } from './statements.ts';

// kinds.ts's handlers for PostgreSQL, where every statement is a round trip to await. The same
// writes in the same order, on the same queries; kinds.ts stays synchronous because SQLite's
// projector runs its prepared statements without a promise per statement on its hot path. A change
// to a handler there is made here too (test/projection covers SQLite's; test/postgres-service these).

export interface AsyncScope {
  q: AsyncStatements;
  channelId: string;
  conversationId: string;
  igsid: string;
  at: number;
  now: number;
  eventKey: string;
  touch(inbound: boolean, message?: boolean): Promise<void>;
  /** The touch as a write, for together(). */
  touchWrite(inbound: boolean, message?: boolean): Write;
  /**
   * Writes as one statement (store/prepared.ts together()): never two changing one row. Held until
   * flush(), which the projector calls with the event's log entries once the handler is done.
   */
  together(writes: Write[]): Promise<void>;
  /** Sends what together() holds, with `more`, as one statement. */
  flush(more?: Write[]): Promise<void>;
  rowId(mid: string): Promise<string>;
  earlyRow(mid: string): Promise<string>;
  markSeen(): Promise<void>;
}

type Handler<K extends ConversationKind> = (s: AsyncScope, e: Of<K>) => Promise<void>;

export const ASYNC_HANDLERS: { [K in ConversationKind]: Handler<K> } = {
  async message(s, e) {
    await customerWrote(s, e.mid, {
      ...content(e),
      type: messageType(e),
      payload: e.quickReplyPayload ?? null,
      referral: e.referral ? JSON.stringify(e.referral.raw) : null,
    });
  },
  async echo(s, e) {
    const message = s.q.upsertMessage.write({
      ...ids(s, await s.rowId(e.mid), e.mid),
      ...content(e),
      type: messageType({ ...e, isUnsupported: false }),
      payload: null,
      referral: null,
      direction: 'outbound',
      status: 'sent',
      isEcho: 1,
      author: 'human',
    });
    await s.together([message, s.touchWrite(false)]);
    // Not with the message: it may mark that very row.
    await s.markSeen();
  },
  async postback(s, e) {
    await customerWrote(s, e.mid ?? s.eventKey, {
      text: e.title ?? null,
      attachments: '[]',
      replyTo: null,
      type: 'postback',
      payload: e.payload,
      referral: e.referral ? JSON.stringify(e.referral.raw) : null,
    });
  },
  async referral(s) {
    await s.touch(true, false);
  },
  async unsend(s, e) {
    await s.q.setDeleted.later({ id: await s.earlyRow(e.mid), at: s.at, now: s.now });
  },
  async edit(s, e) {
    await s.q.setEdited.later({ id: await s.earlyRow(e.mid), text: e.text, at: s.at, now: s.now });
  },
  async reaction(s, e) {
    const id = await s.earlyRow(e.mid);
    const row = (await s.q.message.get<{ reactions: string }>({ id }))!;
    const all = JSON.parse(row.reactions) as Reaction[];
    const newer = all.some((r) => r.by === s.igsid && r.at > s.at);
    const reactions = all.filter((r) => r.by !== s.igsid || r.at > s.at);
    if (e.action === 'react' && !newer) {
      reactions.push({ by: s.igsid, reaction: e.reaction ?? 'other', emoji: e.emoji ?? null, at: s.at });
    }
    await s.q.setReactions.later({ id, reactions: JSON.stringify(reactions), now: s.now });
  },
  async read(s, e) {
    const read = e.mid
      ? await s.q.message.get<{ createdAt: number }>({ id: await s.rowId(e.mid) })
      : undefined;
    const upTo = read ? Number(read.createdAt) : (e.watermark ?? s.at);
    await s.q.setReadMark.later({ id: s.conversationId, upTo, at: s.at, now: s.now });
    await s.markSeen();
  },
};

/** kinds.ts's applyComment. */
export async function applyCommentAsync(
  q: AsyncStatements,
  channelId: string,
  e: Of<'comment'>,
  now: number,
): Promise<void> {
  const id = commentIdOf(channelId, e.commentId);
  await q.insertComment.later({
    id,
    channelId,
    commentId: e.commentId,
    igsid: e.igsid,
    username: e.fromUsername ?? null,
    text: e.text ?? null,
    mediaId: e.mediaId ?? null,
    parentId: e.parentId ?? null,
    source: e.source,
    mediaProductType: e.mediaProductType ?? null,
    at: e.timestamp,
  });
  const data = {
    id,
    commentId: e.commentId,
    source: e.source,
    mediaId: e.mediaId ?? null,
    parentId: e.parentId ?? null,
    from: e.igsid === null ? null : { igsid: e.igsid, username: e.fromUsername ?? null },
    text: e.text ?? null,
  };
  await q.insertEvent.later(
    argsOf(
      {
        event: 'comment.received',
        channelId,
        conversationId: e.igsid === null ? null : conversationIdOf(channelId, e.igsid),
        data,
        dedupKey: `comment|${id}`,
      },
      now,
    ),
  );
}

async function customerWrote(
  s: AsyncScope,
  mid: string,
  fields: Pick<MessageArgs, 'text' | 'attachments' | 'replyTo' | 'type' | 'payload' | 'referral'>,
) {
  const message = s.q.upsertMessage.write({
    ...ids(s, messageIdOf(s.channelId, mid), mid),
    ...fields,
    direction: 'inbound',
    status: 'received',
    isEcho: 0,
    author: 'customer',
  });
  await s.together([message, s.touchWrite(true)]);
}

/** The handler of a conversation event, for the projector's dispatch. */
export const asyncHandlerOf = (kind: ConversationKind) =>
  ASYNC_HANDLERS[kind] as (s: AsyncScope, e: DomainEvent) => Promise<void>;
