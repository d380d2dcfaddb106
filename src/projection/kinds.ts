import type { Attachment, DomainEvent, DomainEventKind, MessageEvent } from '../meta/events.ts';
import { argsOf } from '../store/events.ts';
import { commentIdOf, conversationIdOf, messageIdOf } from '../store/ids.ts';
import type { ArgsOf, MessageArgs, Queries } from './statements.ts';

// One handler per kind of event, each writing what its event changes in a conversation: a message,
// an echo, a postback, a referral, an unsend, an edit, a reaction, a read; and comments, kept apart
// from conversations. Events of other kinds (mentions, insights, handover, unknown) stay in the event
// log only. Handlers run inside the projector's transaction: written once, run by SQLite's projector
// (projector.ts) and PostgreSQL's (postgres-projector.ts) alike.

/**
 * What a handler may use: the statements, and the event's conversation in the channel. The same
 * handlers run on both stores (see Steps): on SQLite every method acts at once and returns its value;
 * on PostgreSQL a lookup or a write returns a promise, and writes are answered with the transaction's
 * next awaited statement. `W` is a write as the store makes it for together().
 */
export interface Scope<W> {
  q: HandlerStatements<W>;
  channelId: string;
  conversationId: string;
  igsid: string;
  /** Meta's time of the event, and the time it is applied. */
  at: number;
  now: number;
  /** The event's dedup key (a postback without a mid is stored under it). */
  eventKey: string;
  /** Moves the conversation's clocks forward: last message, and last inbound (the window). */
  touch(inbound: boolean, message?: boolean): unknown;
  /** The touch as a write, for together(). */
  touchWrite(inbound: boolean, message?: boolean): W;
  /**
   * Writes that never change one row twice: on SQLite each runs now; on PostgreSQL they are held and
   * sent as one statement (store/prepared.ts together()) with the next held writes: markSeen()'s,
   * or else the event's log entries.
   */
  together(writes: W[]): unknown;
  /** A message's row id: a customer's is the hash of its mid; igdm's own keeps the id it was given. */
  rowId(mid: string): string | Promise<string>;
  /** The row of a message an update refers to, made now if the update came first. */
  earlyRow(mid: string): string | Promise<string>;
  /** Marks outbound messages up to the conversation's read mark as seen. */
  markSeen(): unknown;
}

/** A projection statement as a handler uses it, on either store. */
export interface HandlerStatement<A, W> {
  /** A write (on PostgreSQL its answer comes with the transaction's next awaited statement). */
  later(args: A): unknown;
  /** The write itself, for together(). */
  write(args: A): W;
  get<R>(args: A): R | undefined | Promise<R | undefined>;
}

export type HandlerStatements<W> = {
  [K in keyof Queries]: HandlerStatement<ArgsOf<Queries[K]>, W>;
};

/**
 * A handler's steps: it yields what each call of the scope returned and gets it back, resolved.
 * SQLite's projector runs them synchronously (runSteps), PostgreSQL's awaits each (awaitSteps), so
 * one handler serves both stores with the same writes in the same order.
 */
export type Steps = Generator<unknown, void, unknown>;

/** Runs a handler on SQLite: every step's value is already there. */
export function runSteps(steps: Steps): void {
  let r = steps.next();
  while (!r.done) r = steps.next(r.value);
}

/** Runs a handler on PostgreSQL: each step awaited in turn; a failed one is thrown where it was yielded, as on SQLite. */
export async function awaitSteps(steps: Steps): Promise<void> {
  let r = steps.next();
  while (!r.done) {
    let value: unknown;
    try {
      value = await r.value;
    } catch (err) {
      r = steps.throw(err);
      continue;
    }
    r = steps.next(value);
  }
}

export type Of<K extends DomainEventKind> = Extract<DomainEvent, { kind: K }>;
type Handler<K extends DomainEventKind> = <W>(s: Scope<W>, e: Of<K>) => Steps;

/** The kinds that change a conversation, and their handlers. */
export const CONVERSATION_HANDLERS: { [K in ConversationKind]: Handler<K> } = {
  *message(s, e) {
    yield* customerWrote(s, e.mid, {
      ...content(e),
      type: messageType(e),
      payload: e.quickReplyPayload ?? null,
      referral: e.referral ? JSON.stringify(e.referral.raw) : null,
    });
  },
  *echo(s, e) {
    const id = (yield s.rowId(e.mid)) as string;
    const message = s.q.upsertMessage.write({
      ...ids(s, id, e.mid),
      ...content(e),
      type: messageType({ ...e, isUnsupported: false }),
      payload: null,
      referral: null,
      direction: 'outbound',
      status: 'sent',
      isEcho: 1,
      // igdm's own message keeps its author; any other was typed in the Instagram app (or sent by
      // another app): a person's reply
      author: 'human',
    });
    yield s.together([message, s.touchWrite(false)]);
    // Not with the message: it may mark that very row.
    yield s.markSeen();
  },
  *postback(s, e) {
    yield* customerWrote(s, e.mid ?? s.eventKey, {
      text: e.title ?? null,
      attachments: '[]',
      replyTo: null,
      type: 'postback',
      payload: e.payload,
      referral: e.referral ? JSON.stringify(e.referral.raw) : null,
    });
  },
  *referral(s) {
    // An ig.me link or an ad opened the thread: the customer is there, so the window opens.
    yield s.touch(true, false);
  },
  *unsend(s, e) {
    const id = (yield s.earlyRow(e.mid)) as string;
    yield s.q.setDeleted.later({ id, at: s.at, now: s.now });
  },
  *edit(s, e) {
    const id = (yield s.earlyRow(e.mid)) as string;
    yield s.q.setEdited.later({ id, text: e.text, at: s.at, now: s.now });
  },
  *reaction(s, e) {
    // A reaction can overtake its message: the row is made now and filled when the message comes.
    const id = (yield s.earlyRow(e.mid)) as string;
    const row = (yield s.q.message.get<{ reactions: string }>({ id })) as { reactions: string };
    const all = JSON.parse(row.reactions) as Reaction[];
    const newer = all.some((r) => r.by === s.igsid && r.at > s.at);
    const reactions = all.filter((r) => r.by !== s.igsid || r.at > s.at);
    if (e.action === 'react' && !newer) {
      reactions.push({ by: s.igsid, reaction: e.reaction ?? 'other', emoji: e.emoji ?? null, at: s.at });
    }
    yield s.q.setReactions.later({ id, reactions: JSON.stringify(reactions), now: s.now });
  },
  *read(s, e) {
    // Seen up to the message read (or the watermark, or the event time), kept on the conversation
    // so that echoes arriving after the read are seen too.
    let read: { createdAt: number } | undefined;
    if (e.mid) {
      const id = (yield s.rowId(e.mid)) as string;
      read = (yield s.q.message.get<{ createdAt: number }>({ id })) as { createdAt: number } | undefined;
    }
    const upTo = read ? Number(read.createdAt) : (e.watermark ?? s.at);
    yield s.q.setReadMark.later({ id: s.conversationId, upTo, at: s.at, now: s.now });
    yield s.markSeen();
  },
};

/** The handler of a conversation event, for the projectors' dispatch. */
export const handlerOf = (kind: ConversationKind) =>
  CONVERSATION_HANDLERS[kind] as <W>(s: Scope<W>, e: DomainEvent) => Steps;

export type ConversationKind =
  | 'message'
  | 'echo'
  | 'postback'
  | 'referral'
  | 'unsend'
  | 'edit'
  | 'reaction'
  | 'read';
export const isConversationKind = (kind: DomainEventKind): kind is ConversationKind =>
  Object.hasOwn(CONVERSATION_HANDLERS, kind);

/**
 * A comment on the account's media (or one mentioning the account), kept for the API and private
 * replies, with `comment.received` on the event stream. A redelivery changes nothing: the first
 * delivery's row and event stay (both are keyed by Meta's comment id).
 */
export function* applyComment<W>(
  q: HandlerStatements<W>,
  channelId: string,
  e: Of<'comment'>,
  now: number,
): Steps {
  const id = commentIdOf(channelId, e.commentId);
  yield q.insertComment.later({
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
  yield q.insertEvent.later(
    argsOf(
      {
        event: 'comment.received',
        channelId,
        // Keyed by the commenter's conversation (whether or not they wrote yet): erasing the
        // contact erases it with the rest of the log about them.
        conversationId: e.igsid === null ? null : conversationIdOf(channelId, e.igsid),
        data,
        dedupKey: `comment|${id}`,
      },
      now,
    ),
  );
}

export interface Reaction {
  by: string;
  reaction: string;
  emoji: string | null;
  at: number;
}

/** A message (or a postback) from the customer: stored under its mid, and the window opens. */
function* customerWrote<W>(
  s: Scope<W>,
  mid: string,
  fields: Pick<MessageArgs, 'text' | 'attachments' | 'replyTo' | 'type' | 'payload' | 'referral'>,
): Steps {
  const message = s.q.upsertMessage.write({
    ...ids(s, messageIdOf(s.channelId, mid), mid),
    ...fields,
    direction: 'inbound',
    status: 'received',
    isEcho: 0,
    author: 'customer',
  });
  yield s.together([message, s.touchWrite(true)]);
}

export const ids = (
  s: Pick<Scope<unknown>, 'channelId' | 'conversationId' | 'at' | 'now'>,
  id: string,
  mid: string,
) => ({
  id,
  channelId: s.channelId,
  conversationId: s.conversationId,
  mid,
  at: s.at,
  now: s.now,
});

export function content(m: { text?: string; attachments: Attachment[]; replyTo?: unknown }) {
  return {
    text: m.text ?? null,
    attachments: JSON.stringify(m.attachments),
    replyTo: m.replyTo === undefined ? null : JSON.stringify(m.replyTo),
  };
}

/** The message type the API shows: text, story_mention, story_reply, product_share, image, ig_reel, ... */
export function messageType(
  m: Pick<MessageEvent, 'text' | 'attachments' | 'replyTo' | 'isUnsupported'>,
): string {
  if (m.isUnsupported) return 'unsupported';
  const types = m.attachments.map((a) => a.type);
  if (types.includes('story_mention')) return 'story_mention';
  // A shop's product comes as a `template` attachment carrying the product (meta/attachments.ts).
  if (m.attachments.some((a) => a.products)) return 'product_share';
  // Since Nov 2025 a shared post carries both `share` and `ig_post`; the specific one wins.
  if (types.includes('ig_post')) return 'ig_post';
  if (types[0]) return types[0];
  if (m.replyTo && 'story' in m.replyTo) return 'story_reply';
  return 'text';
}
