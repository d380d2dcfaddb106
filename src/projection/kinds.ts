import type { Attachment, DomainEvent, DomainEventKind, MessageEvent } from '../meta/events.ts';
import { argsOf } from '../store/events.ts';
import { commentIdOf, conversationIdOf, messageIdOf } from '../store/ids.ts';
import type { MessageArgs, Statements } from './statements.ts';

// One handler per kind of event, each writing what its event changes in a conversation: a message,
// an echo, a postback, a referral, an unsend, an edit, a reaction, a read; and comments, kept apart
// from conversations. Events of other kinds (mentions, insights, handover, unknown) stay in the event
// log only. Handlers run inside the projector's transaction (projector.ts).

/** What a handler may use: the statements, and the event's conversation in the channel. */
export interface Scope {
  q: Statements;
  channelId: string;
  conversationId: string;
  igsid: string;
  /** Meta's time of the event, and the time it is applied. */
  at: number;
  now: number;
  /** The event's dedup key (a postback without a mid is stored under it). */
  eventKey: string;
  /** Moves the conversation's clocks forward: last message, and last inbound (the window). */
  touch(inbound: boolean, message?: boolean): void;
  /** A message's row id: a customer's is the hash of its mid; igdm's own keeps the id it was given. */
  rowId(mid: string): string;
  /** The row of a message an update refers to, made now if the update came first. */
  earlyRow(mid: string): string;
  /** Marks outbound messages up to the conversation's read mark as seen. */
  markSeen(): void;
}

export type Of<K extends DomainEventKind> = Extract<DomainEvent, { kind: K }>;
type Handler<K extends DomainEventKind> = (s: Scope, e: Of<K>) => void;

/** The kinds that change a conversation, and their handlers. */
export const CONVERSATION_HANDLERS: { [K in ConversationKind]: Handler<K> } = {
  message(s, e) {
    customerWrote(s, e.mid, {
      ...content(e),
      type: messageType(e),
      payload: e.quickReplyPayload ?? null,
      referral: e.referral ? JSON.stringify(e.referral.raw) : null,
    });
  },
  echo(s, e) {
    s.q.upsertMessage.run({
      ...ids(s, s.rowId(e.mid), e.mid),
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
    s.touch(false);
    s.markSeen();
  },
  postback(s, e) {
    customerWrote(s, e.mid ?? s.eventKey, {
      text: e.title ?? null,
      attachments: '[]',
      replyTo: null,
      type: 'postback',
      payload: e.payload,
      referral: e.referral ? JSON.stringify(e.referral.raw) : null,
    });
  },
  referral(s) {
    // An ig.me link or an ad opened the thread: the customer is there, so the window opens.
    s.touch(true, false);
  },
  unsend(s, e) {
    s.q.setDeleted.run({ id: s.earlyRow(e.mid), at: s.at, now: s.now });
  },
  edit(s, e) {
    s.q.setEdited.run({ id: s.earlyRow(e.mid), text: e.text, at: s.at, now: s.now });
  },
  reaction(s, e) {
    // A reaction can overtake its message: the row is made now and filled when the message comes.
    const id = s.earlyRow(e.mid);
    const row = s.q.message.get<{ reactions: string }>({ id })!;
    const all = JSON.parse(row.reactions) as Reaction[];
    const newer = all.some((r) => r.by === s.igsid && r.at > s.at);
    const reactions = all.filter((r) => r.by !== s.igsid || r.at > s.at);
    if (e.action === 'react' && !newer) {
      reactions.push({ by: s.igsid, reaction: e.reaction ?? 'other', emoji: e.emoji ?? null, at: s.at });
    }
    s.q.setReactions.run({ id, reactions: JSON.stringify(reactions), now: s.now });
  },
  read(s, e) {
    // Seen up to the message read (or the watermark, or the event time), kept on the conversation
    // so that echoes arriving after the read are seen too.
    const read = e.mid ? s.q.message.get<{ createdAt: number }>({ id: s.rowId(e.mid) }) : undefined;
    const upTo = read ? Number(read.createdAt) : (e.watermark ?? s.at);
    s.q.setReadMark.run({ id: s.conversationId, upTo, at: s.at, now: s.now });
    s.markSeen();
  },
};

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
export function applyComment(q: Statements, channelId: string, e: Of<'comment'>, now: number): void {
  const id = commentIdOf(channelId, e.commentId);
  q.insertComment.run({
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
  q.insertEvent.run(
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
function customerWrote(
  s: Scope,
  mid: string,
  fields: Pick<MessageArgs, 'text' | 'attachments' | 'replyTo' | 'type' | 'payload' | 'referral'>,
) {
  s.q.upsertMessage.run({
    ...ids(s, messageIdOf(s.channelId, mid), mid),
    ...fields,
    direction: 'inbound',
    status: 'received',
    isEcho: 0,
    author: 'customer',
  });
  s.touch(true);
}

export const ids = (
  s: Pick<Scope, 'channelId' | 'conversationId' | 'at' | 'now'>,
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
