import type { DatabaseSync } from 'node:sqlite';
import { type Expression, type Kysely, sql } from 'kysely';
import type { Attachment, DomainEvent, MessageEvent, RawEvent, RawSource } from '../meta/events.ts';
import { normalise } from '../meta/normalise.ts';
import { prepareEnqueue } from '../queue/embedded.ts';
import { isStoreFault } from '../store/faults.ts';
import { contactIdOf, conversationIdOf, hashId, messageIdOf } from '../store/ids.ts';
import { kyselyOver } from '../store/index.ts';
import { param as p, prepare } from '../store/prepared.ts';
import type { Database } from '../store/schema.ts';

// Applying stored webhook events to contacts, conversations and messages. Every step is an upsert
// keyed by Meta's ids, so applying an event twice, or replaying the whole log, gives the same state;
// and events that arrive out of order (an unsend or a reaction before its message, an echo after
// the read) still end in the right state. It runs at the ingest rate, so its statements are
// prepared once (see store/prepared.ts).

// The ids live in store/ids.ts (the sender needs them too, and does not import the engine).
export { contactIdOf, conversationIdOf, messageIdOf };

export interface ApplyResult {
  events: number;
  /** More unapplied events are waiting. */
  more: boolean;
  /** Conversations whose state changed. */
  conversations: string[];
}

interface PendingRow {
  id: number;
  dedupKey: string;
  channelId: string | null;
  object: string;
  source: string;
  entryId: string | null;
  entryTime: number | null;
  payload: string;
}

interface Reaction {
  by: string;
  reaction: string;
  emoji: string | null;
  at: number;
}

/** The later of a column and a time (portable: SQLite's max(a, b) is PostgreSQL's greatest). */
const later = (column: Expression<number | null>, at: number) =>
  sql<number>`case when ${column} is not null and ${column} > ${at} then ${column} else ${at} end`;

export type NewContact = { id: string; channelId: string; igsid: string; now: number };
export type NewConversation = {
  id: string;
  channelId: string;
  igsid: string;
  contactId: string;
  at: number;
  now: number;
};

/** A contact first seen (kept if there already), for prepare() or compile(). */
export const insertContact = (db: Kysely<Database>) =>
  db
    .insertInto('contacts')
    .values({
      id: p('id'),
      channelId: p('channelId'),
      igsid: p('igsid'),
      username: null,
      name: null,
      profilePic: null,
      createdAt: p('now'),
      updatedAt: p('now'),
    })
    .onConflict((oc) => oc.column('id').doNothing());

/** A conversation first seen, owned by the bot (kept if there already), for prepare() or compile(). */
export const insertConversation = (db: Kysely<Database>) =>
  db
    .insertInto('conversations')
    .values({
      id: p('id'),
      channelId: p('channelId'),
      igsid: p('igsid'),
      contactId: p('contactId'),
      status: 'open',
      threadOwner: 'bot',
      lastInboundAt: null,
      lastMessageAt: p('at'),
      readUpTo: null,
      readAt: null,
      createdAt: p('at'),
      updatedAt: p('now'),
    })
    .onConflict((oc) => oc.column('id').doNothing());

type MessageArgs = {
  id: string;
  channelId: string;
  conversationId: string;
  mid: string;
  direction: string;
  type: string;
  text: string | null;
  attachments: string;
  replyTo: string | null;
  payload: string | null;
  referral: string | null;
  status: string;
  isEcho: number;
  author: string | null;
  at: number;
  now: number;
};

function statements(sqlite: DatabaseSync) {
  const db = kyselyOver(sqlite);
  const at = p<number>('at');
  const now = p<number>('now');
  const id = p<string>('id');
  const messageValues = {
    id,
    channelId: p<string>('channelId'),
    conversationId: p<string>('conversationId'),
    mid: p<string>('mid'),
    direction: p<string>('direction'),
    type: p<string>('type'),
    text: p<string | null>('text'),
    attachments: p<string>('attachments'),
    replyTo: p<string | null>('replyTo'),
    payload: p<string | null>('payload'),
    referral: p<string | null>('referral'),
    reactions: '[]',
    status: p<string>('status'),
    isEcho: p<number>('isEcho'),
    author: p<string | null>('author'),
    editedAt: null,
    deletedAt: null,
    seenAt: null,
    createdAt: at,
    updatedAt: now,
  };
  return {
    pending: prepare<{ limit: number }>(
      sqlite,
      db
        .selectFrom('webhookEvents')
        .select(['id', 'dedupKey', 'channelId', 'object', 'source', 'entryId', 'entryTime', 'payload'])
        .where('appliedAt', 'is', null)
        .orderBy('metaTimestamp')
        .orderBy('id')
        .limit(p<number>('limit')),
    ),
    markApplied: prepare<{ id: number; now: number; error: string | null }>(
      sqlite,
      db
        .updateTable('webhookEvents')
        .set({ appliedAt: now, applyError: p<string | null>('error') })
        .where('id', '=', p<number>('id')),
    ),
    conversation: prepare<{ id: string }>(
      sqlite,
      db.selectFrom('conversations').select(['id', 'readUpTo', 'readAt']).where('id', '=', id),
    ),
    insertContact: prepare<NewContact>(sqlite, insertContact(db)),
    insertConversation: prepare<NewConversation>(sqlite, insertConversation(db)),
    /** Moves the clocks forward only: events can arrive out of order. */
    touch: prepare<{ id: string; at: number; now: number; inbound: number; message: number }>(
      sqlite,
      db
        .updateTable('conversations')
        .set((eb) => ({
          updatedAt: now,
          lastMessageAt: sql<number>`case when ${p('message')} = 1 then ${later(eb.ref('lastMessageAt'), at)} else ${eb.ref('lastMessageAt')} end`,
          lastInboundAt: sql<number>`case when ${p('inbound')} = 1 then ${later(eb.ref('lastInboundAt'), at)} else ${eb.ref('lastInboundAt')} end`,
        }))
        .where('id', '=', id),
    ),
    upsertMessage: prepare<MessageArgs>(
      sqlite,
      db
        .insertInto('messages')
        .values(messageValues)
        // A row made earlier by an update that overtook its message (an early row) gets the content
        // now; its deletion, edit and reactions stay.
        .onConflict((oc) =>
          // The id is a hash of (channel, mid): it is the message's natural key.
          oc.column('id').doUpdateSet((eb) => ({
            direction: eb.ref('excluded.direction'),
            type: eb.ref('excluded.type'),
            text: sql<string | null>`coalesce(messages.text, excluded.text)`,
            attachments: eb.ref('excluded.attachments'),
            replyTo: eb.ref('excluded.replyTo'),
            payload: eb.ref('excluded.payload'),
            referral: eb.ref('excluded.referral'),
            isEcho: eb.ref('excluded.isEcho'),
            author: sql<string | null>`coalesce(messages.author, excluded.author)`,
            createdAt: eb.ref('excluded.createdAt'),
            updatedAt: eb.ref('excluded.updatedAt'),
            status: sql<string>`case when messages.type = 'unknown' then excluded.status else messages.status end`,
          })),
        ),
    ),
    /** The message's row, made early when an update overtakes the message itself. */
    ensureMessage: prepare<
      Omit<
        MessageArgs,
        | 'direction'
        | 'type'
        | 'text'
        | 'attachments'
        | 'replyTo'
        | 'payload'
        | 'referral'
        | 'status'
        | 'isEcho'
        | 'author'
      >
    >(
      sqlite,
      db
        .insertInto('messages')
        .values({
          ...messageValues,
          direction: 'inbound',
          type: 'unknown',
          text: null,
          attachments: '[]',
          replyTo: null,
          payload: null,
          referral: null,
          status: 'received',
          isEcho: 0,
          author: null,
        })
        .onConflict((oc) => oc.column('id').doNothing()),
    ),
    insertComment: prepare<{
      id: string;
      channelId: string;
      commentId: string;
      igsid: string | null;
      username: string | null;
      text: string | null;
      mediaId: string | null;
      parentId: string | null;
      at: number;
    }>(
      sqlite,
      db
        .insertInto('comments')
        .values({
          id,
          channelId: p('channelId'),
          commentId: p('commentId'),
          igsid: p('igsid'),
          username: p('username'),
          text: p('text'),
          mediaId: p('mediaId'),
          parentId: p('parentId'),
          createdAt: at,
        })
        .onConflict((oc) => oc.column('id').doNothing()),
    ),
    sentByIgdm: prepare<{ channelId: string; mid: string }>(
      sqlite,
      db
        .selectFrom('outbox')
        .select('messageId')
        .where('channelId', '=', p<string>('channelId'))
        .where('mid', '=', p<string>('mid')),
    ),
    message: prepare<{ id: string }>(
      sqlite,
      db.selectFrom('messages').select(['id', 'createdAt', 'reactions']).where('id', '=', id),
    ),
    setDeleted: prepare<{ id: string; at: number; now: number }>(
      sqlite,
      db.updateTable('messages').set({ deletedAt: at, updatedAt: now }).where('id', '=', id),
    ),
    setEdited: prepare<{ id: string; text: string; at: number; now: number }>(
      sqlite,
      db
        .updateTable('messages')
        .set({ text: p('text'), editedAt: at, updatedAt: now })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('editedAt', 'is', null), eb('editedAt', '<=', at)])),
    ),
    setReactions: prepare<{ id: string; reactions: string; now: number }>(
      sqlite,
      db
        .updateTable('messages')
        .set({ reactions: p('reactions'), updatedAt: now })
        .where('id', '=', id),
    ),
    setReadMark: prepare<{ id: string; upTo: number; at: number; now: number }>(
      sqlite,
      db
        .updateTable('conversations')
        .set((eb) => ({
          readUpTo: later(eb.ref('readUpTo'), p('upTo')),
          readAt: later(eb.ref('readAt'), at),
          updatedAt: now,
        }))
        .where('id', '=', id),
    ),
    /** Marks the outbound messages up to the conversation's read mark as seen. */
    markSeen: prepare<{ conversationId: string; upTo: number; readAt: number; now: number }>(
      sqlite,
      db
        .updateTable('messages')
        .set({ status: 'seen', seenAt: p('readAt'), updatedAt: now })
        .where('conversationId', '=', p<string>('conversationId'))
        .where('direction', '=', 'outbound')
        .where('createdAt', '<=', p<number>('upTo'))
        .where('seenAt', 'is', null),
    ),
  };
}

/** Applies stored events to conversations, on one SQLite connection. */
export class Applier {
  readonly #sqlite: DatabaseSync;
  readonly #q: ReturnType<typeof statements>;
  readonly #enqueue: ReturnType<typeof prepareEnqueue>;

  readonly #handOver: boolean;

  /** `engine: false` (a replay) rebuilds state only: the engine already handled these events once. */
  constructor(sqlite: DatabaseSync, options: { engine?: boolean } = {}) {
    this.#sqlite = sqlite;
    this.#q = statements(sqlite);
    this.#enqueue = prepareEnqueue(sqlite);
    this.#handOver = options.engine ?? true;
  }

  /** Applies the oldest unapplied events (by Meta's timestamp) in one transaction, within a count and a time budget. */
  applyPending(limits: { maxEvents: number; budgetMs: number }): ApplyResult {
    const rows = this.#q.pending.all<PendingRow>({ limit: limits.maxEvents });
    if (rows.length === 0) return { events: 0, more: false, conversations: [] };
    const touched = new Set<string>();
    const started = performance.now();
    let done = 0;
    this.#sqlite.exec('begin immediate');
    try {
      for (const row of rows) {
        const error = this.#applyRow(row, touched);
        this.#q.markApplied.run({ id: row.id, now: Date.now(), error });
        done++;
        if (performance.now() - started > limits.budgetMs) break;
      }
      this.#sqlite.exec('commit');
    } catch (err) {
      if (this.#sqlite.isTransaction) this.#sqlite.exec('rollback');
      throw err;
    }
    return {
      events: done,
      more: done < rows.length || rows.length === limits.maxEvents,
      conversations: [...touched],
    };
  }

  /** Applies every unapplied event. */
  applyAll(): number {
    let total = 0;
    for (;;) {
      const r = this.applyPending({ maxEvents: 1000, budgetMs: 1000 });
      total += r.events;
      if (!r.more) return total;
    }
  }

  /** One stored event; returns why it could not be applied, or null. Throws when the store fails. */
  #applyRow(row: PendingRow, touched: Set<string>): string | null {
    if (row.object !== 'instagram' || !row.channelId) return null; // kept raw only
    // A savepoint per event: an event that cannot be applied leaves no partial state behind.
    this.#sqlite.exec('savepoint apply_event');
    try {
      const raw: RawEvent = {
        object: row.object,
        entryId: row.entryId,
        entryTime: row.entryTime === null ? null : Number(row.entryTime),
        source: row.source as RawSource,
        payload: JSON.parse(row.payload),
      };
      let job: { key: string; orderAt: number } | null = null;
      for (const event of normalise(raw)) {
        const applied = this.applyEvent(row.channelId, event, row.dedupKey);
        if (applied.conversation) touched.add(applied.conversation);
        // The echo of a send whose answer igdm has recorded completes it here: the engine has
        // nothing to decide. One that comes first, or that igdm did not send, goes to the engine.
        if (applied.ownEcho) continue;
        if (!job && ENGINE_KINDS.has(event.kind) && event.igsid && event.igsid !== event.accountId)
          job = { key: conversationIdOf(row.channelId, event.igsid), orderAt: event.timestamp };
      }
      // The engine's work for this event, in the same transaction as its state: it is handed over
      // exactly once, however often the event is delivered or the log replayed (the dedup key).
      if (job && this.#handOver)
        this.#enqueue({
          queue: ENGINE_QUEUE,
          key: job.key,
          orderAt: job.orderAt,
          dedupKey: `engine:${row.dedupKey}`,
          payload: { eventId: Number(row.id) },
        });
      this.#sqlite.exec('release apply_event');
      return null;
    } catch (err) {
      // A failure of the store (a full disk, an I/O error) is not the event's: the slice rolls back
      // and is applied again later (SQLite may have rolled the transaction back already).
      if (isStoreFault(err)) throw err;
      this.#sqlite.exec('rollback to apply_event');
      this.#sqlite.exec('release apply_event');
      return (err as Error).message;
    }
  }

  /** Applies one domain event. */
  applyEvent(channelId: string, event: DomainEvent, eventKey: string): Applied {
    if (event.kind === 'comment') {
      this.#q.insertComment.run({
        id: hashId('cmt', channelId, event.commentId),
        channelId,
        commentId: event.commentId,
        igsid: event.igsid,
        username: event.fromUsername ?? null,
        text: event.text ?? null,
        mediaId: event.mediaId ?? null,
        parentId: event.parentId ?? null,
        at: event.timestamp,
      });
      return NOTHING;
    }
    // Comments, mentions, insights, handover and unknown events are kept in the event log only (for now).
    if (!CONVERSATION_KINDS.has(event.kind)) return NOTHING;
    const igsid = event.igsid;
    if (!igsid || igsid === event.accountId) return NOTHING;
    const q = this.#q;
    const at = event.timestamp;
    const now = Date.now();
    const conversationId = this.#ensureConversation(channelId, igsid, at);
    const touch = (inbound: boolean, message = true) =>
      q.touch.run({ id: conversationId, at, now, inbound: inbound ? 1 : 0, message: message ? 1 : 0 });
    // Customers' messages are keyed by a hash of their mid; messages igdm sent keep the id the API
    // gave them when queued, found through the outbox by the mid Meta assigned.
    let sentByIgdm = false;
    const rowId = (mid: string) => {
      const sent = q.sentByIgdm.get<{ messageId: string | null }>({ channelId, mid });
      if (sent) sentByIgdm = true;
      return sent?.messageId ?? messageIdOf(channelId, mid);
    };
    const message = (mid: string, inbound = false) => ({
      id: inbound ? messageIdOf(channelId, mid) : rowId(mid),
      channelId,
      conversationId,
      mid,
      at,
      now,
    });
    const earlyRow = (mid: string) => {
      const m = message(mid);
      q.ensureMessage.run(m);
      return m.id;
    };

    switch (event.kind) {
      case 'message':
        q.upsertMessage.run({
          ...message(event.mid, true),
          ...content(event),
          type: messageType(event),
          payload: event.quickReplyPayload ?? null,
          referral: event.referral ? JSON.stringify(event.referral.raw) : null,
          direction: 'inbound',
          status: 'received',
          isEcho: 0,
          author: 'customer',
        });
        touch(true);
        break;
      case 'echo':
        q.upsertMessage.run({
          ...message(event.mid),
          ...content(event),
          type: messageType({ ...event, isUnsupported: false }),
          payload: null,
          referral: null,
          direction: 'outbound',
          status: 'sent',
          isEcho: 1,
          // igdm's own message keeps its author; any other was typed in the Instagram app (or sent by
          // another app): a person's reply
          author: 'human',
        });
        touch(false);
        this.#markSeen(conversationId, now);
        break;
      case 'postback':
        q.upsertMessage.run({
          ...message(event.mid ?? eventKey, true),
          text: event.title ?? null,
          attachments: '[]',
          replyTo: null,
          type: 'postback',
          payload: event.payload,
          referral: event.referral ? JSON.stringify(event.referral.raw) : null,
          direction: 'inbound',
          status: 'received',
          isEcho: 0,
          author: 'customer',
        });
        touch(true);
        break;
      case 'referral':
        // An ig.me link or an ad opened the thread: the customer is there, so the window opens.
        touch(true, false);
        break;
      case 'unsend':
        q.setDeleted.run({ id: earlyRow(event.mid), at, now });
        break;
      case 'edit':
        q.setEdited.run({ id: earlyRow(event.mid), text: event.text, at, now });
        break;
      case 'reaction': {
        // A reaction can overtake its message: the row is made now and filled when the message comes.
        const id = earlyRow(event.mid);
        const row = q.message.get<{ reactions: string }>({ id })!;
        const all = JSON.parse(row.reactions) as Reaction[];
        const newer = all.some((r) => r.by === igsid && r.at > at);
        const reactions = all.filter((r) => r.by !== igsid || r.at > at);
        if (event.action === 'react' && !newer) {
          reactions.push({ by: igsid, reaction: event.reaction ?? 'other', emoji: event.emoji ?? null, at });
        }
        q.setReactions.run({ id, reactions: JSON.stringify(reactions), now });
        break;
      }
      case 'read': {
        // Seen up to the message read (or the watermark, or the event time), kept on the
        // conversation so that echoes arriving after the read are seen too.
        const read = event.mid ? q.message.get<{ createdAt: number }>({ id: rowId(event.mid) }) : undefined;
        const upTo = read ? Number(read.createdAt) : (event.watermark ?? at);
        q.setReadMark.run({ id: conversationId, upTo, at, now });
        this.#markSeen(conversationId, now);
        break;
      }
    }
    // An echo's row is looked up by its own mid only.
    return { conversation: conversationId, ownEcho: event.kind === 'echo' && sentByIgdm };
  }

  #ensureConversation(channelId: string, igsid: string, at: number): string {
    const id = conversationIdOf(channelId, igsid);
    if (this.#q.conversation.get({ id })) return id;
    const now = Date.now();
    const contactId = contactIdOf(channelId, igsid);
    this.#q.insertContact.run({ id: contactId, channelId, igsid, now });
    this.#q.insertConversation.run({ id, channelId, igsid, contactId, at: at || now, now });
    return id;
  }

  #markSeen(conversationId: string, now: number) {
    const c = this.#q.conversation.get<{ readUpTo: number | null; readAt: number | null }>({
      id: conversationId,
    });
    if (!c || c.readUpTo === null || c.readAt === null) return;
    this.#q.markSeen.run({ conversationId, upTo: Number(c.readUpTo), readAt: Number(c.readAt), now });
  }
}

export interface Applied {
  /** The conversation the event changed, if any. */
  conversation: string | null;
  /** An echo of a send igdm has recorded (by its mid). */
  ownEcho: boolean;
}

const NOTHING: Applied = { conversation: null, ownEcho: false };

/** The engine's queue: one job per event that automation or handover may act on. */
export const ENGINE_QUEUE = 'engine';
const ENGINE_KINDS = new Set(['message', 'postback', 'reaction', 'referral', 'echo', 'handover']);

const CONVERSATION_KINDS = new Set([
  'message',
  'echo',
  'unsend',
  'edit',
  'reaction',
  'read',
  'postback',
  'referral',
]);

function content(m: { text?: string; attachments: Attachment[]; replyTo?: unknown }) {
  return {
    text: m.text ?? null,
    attachments: JSON.stringify(m.attachments),
    replyTo: m.replyTo === undefined ? null : JSON.stringify(m.replyTo),
  };
}

/** The message type the API shows: text, story_mention, story_reply, image, ig_reel, ... */
function messageType(m: Pick<MessageEvent, 'text' | 'attachments' | 'replyTo' | 'isUnsupported'>): string {
  if (m.isUnsupported) return 'unsupported';
  const types = m.attachments.map((a) => a.type);
  if (types.includes('story_mention')) return 'story_mention';
  // Since Nov 2025 a shared post carries both `share` and `ig_post`; the specific one wins.
  if (types.includes('ig_post')) return 'ig_post';
  if (types[0]) return types[0];
  if (m.replyTo && 'story' in m.replyTo) return 'story_reply';
  return 'text';
}
