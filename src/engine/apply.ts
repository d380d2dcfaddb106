import { createHash } from 'node:crypto';
import { type Expression, type Kysely, sql, type Transaction } from 'kysely';
import type { Attachment, DomainEvent, MessageEvent, RawEvent, RawSource } from '../meta/events.ts';
import { normalise } from '../meta/normalise.ts';
import type { Database } from '../store/schema.ts';

// Applying stored webhook events to contacts, conversations and messages. Every step is an upsert
// keyed by Meta's ids, so applying an event twice, or replaying the whole log, gives the same state;
// and events that arrive out of order (an unsend before its message) still end in the right state.

type Db = Kysely<Database> | Transaction<Database>;

const hashId = (prefix: string, ...parts: string[]) =>
  `${prefix}_${createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 22)}`;

export const conversationIdOf = (channelId: string, igsid: string) => hashId('cnv', channelId, igsid);
export const contactIdOf = (channelId: string, igsid: string) => hashId('ct', channelId, igsid);
export const messageIdOf = (channelId: string, mid: string) => hashId('msg', channelId, mid);

export interface ApplyResult {
  events: number;
  /** More unapplied events are waiting. */
  more: boolean;
  /** Conversations whose state changed. */
  conversations: string[];
}

/** Applies the oldest unapplied events (by Meta's timestamp), within a count and a time budget. */
export async function applyPending(
  db: Kysely<Database>,
  limits: { maxEvents: number; budgetMs: number },
): Promise<ApplyResult> {
  const rows = await db
    .selectFrom('webhookEvents')
    .selectAll()
    .where('appliedAt', 'is', null)
    .orderBy('metaTimestamp')
    .orderBy('id')
    .limit(limits.maxEvents)
    .execute();
  if (rows.length === 0) return { events: 0, more: false, conversations: [] };

  const touched = new Set<string>();
  const started = performance.now();
  let done = 0;
  await db.transaction().execute(async (trx) => {
    for (const row of rows) {
      let error: string | null = null;
      if (row.object === 'instagram' && row.channelId) {
        // A savepoint per event: an event that cannot be applied leaves no partial state behind.
        await sql`savepoint apply_event`.execute(trx);
        try {
          const raw: RawEvent = {
            object: row.object,
            entryId: row.entryId,
            entryTime: row.entryTime === null ? null : Number(row.entryTime),
            source: row.source as RawSource,
            payload: JSON.parse(row.payload),
          };
          for (const event of normalise(raw)) {
            const id = await applyEvent(trx, row.channelId, event, row.dedupKey);
            if (id) touched.add(id);
          }
          await sql`release apply_event`.execute(trx);
        } catch (err) {
          await sql`rollback to apply_event`.execute(trx);
          await sql`release apply_event`.execute(trx);
          error = (err as Error).message;
        }
      }
      await trx
        .updateTable('webhookEvents')
        .set({ appliedAt: Date.now(), applyError: error })
        .where('id', '=', row.id)
        .execute();
      done++;
      if (performance.now() - started > limits.budgetMs) break;
    }
  });
  return {
    events: done,
    more: done < rows.length || rows.length === limits.maxEvents,
    conversations: [...touched],
  };
}

/** Applies one domain event; returns the conversation it changed, if any. */
export async function applyEvent(
  db: Db,
  channelId: string,
  event: DomainEvent,
  eventKey: string,
): Promise<string | null> {
  // Comments, mentions, insights, handover and unknown events are kept in the event log only (for now).
  if (
    !['message', 'echo', 'unsend', 'edit', 'reaction', 'read', 'postback', 'referral'].includes(event.kind)
  ) {
    return null;
  }
  const igsid = event.igsid;
  if (!igsid || igsid === event.accountId) return null;
  const conversationId = await ensureConversation(db, channelId, igsid, event.timestamp);
  const at = event.timestamp;

  switch (event.kind) {
    case 'message':
      await upsertMessage(db, channelId, conversationId, event.mid, {
        direction: 'inbound',
        type: messageType(event),
        text: event.text ?? null,
        attachments: event.attachments,
        replyTo: event.replyTo ?? null,
        payload: event.quickReplyPayload ?? null,
        referral: event.referral?.raw ?? null,
        status: 'received',
        isEcho: 0,
        at,
      });
      await touchConversation(db, conversationId, at, true);
      break;
    case 'echo':
      await upsertMessage(db, channelId, conversationId, event.mid, {
        direction: 'outbound',
        type: messageType({ ...event, isUnsupported: false }),
        text: event.text ?? null,
        attachments: event.attachments,
        replyTo: event.replyTo ?? null,
        payload: null,
        referral: null,
        status: 'sent',
        isEcho: 1,
        at,
      });
      await touchConversation(db, conversationId, at, false);
      await markSeen(db, conversationId);
      break;
    case 'postback':
      await upsertMessage(db, channelId, conversationId, event.mid ?? eventKey, {
        direction: 'inbound',
        type: 'postback',
        text: event.title ?? null,
        attachments: [],
        replyTo: null,
        payload: event.payload,
        referral: event.referral?.raw ?? null,
        status: 'received',
        isEcho: 0,
        at,
      });
      await touchConversation(db, conversationId, at, true);
      break;
    case 'referral':
      // An ig.me link or an ad opened the thread: the customer is there, so the window opens.
      await touchConversation(db, conversationId, at, true, false);
      break;
    case 'unsend': {
      const id = await ensureMessageRow(db, channelId, conversationId, event.mid, at);
      await db
        .updateTable('messages')
        .set({ deletedAt: at, updatedAt: Date.now() })
        .where('id', '=', id)
        .execute();
      break;
    }
    case 'edit': {
      const id = await ensureMessageRow(db, channelId, conversationId, event.mid, at);
      await db
        .updateTable('messages')
        .set({ text: event.text, editedAt: at, updatedAt: Date.now() })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('editedAt', 'is', null), eb('editedAt', '<=', at)]))
        .execute();
      break;
    }
    case 'reaction': {
      // A reaction can overtake its message: the row is made now and filled when the message comes.
      const id = await ensureMessageRow(db, channelId, conversationId, event.mid, at);
      const row = await db
        .selectFrom('messages')
        .select(['id', 'reactions'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      const reactions = (JSON.parse(row.reactions) as Reaction[]).filter((r) => r.by !== igsid || r.at > at);
      const newer = (JSON.parse(row.reactions) as Reaction[]).some((r) => r.by === igsid && r.at > at);
      if (event.action === 'react' && !newer) {
        reactions.push({ by: igsid, reaction: event.reaction ?? 'other', emoji: event.emoji ?? null, at });
      }
      await db
        .updateTable('messages')
        .set({ reactions: JSON.stringify(reactions), updatedAt: Date.now() })
        .where('id', '=', row.id)
        .execute();
      break;
    }
    case 'read': {
      // Seen up to the message read (or the watermark, or the event time).
      const read = event.mid
        ? await db
            .selectFrom('messages')
            .select('createdAt')
            .where('id', '=', messageIdOf(channelId, event.mid))
            .executeTakeFirst()
        : undefined;
      const upTo = read ? Number(read.createdAt) : (event.watermark ?? at);
      // Kept on the conversation, so echoes that arrive after the read are seen too.
      await db
        .updateTable('conversations')
        .set((eb) => ({ readUpTo: later(eb.ref('readUpTo'), upTo), readAt: later(eb.ref('readAt'), at) }))
        .where('id', '=', conversationId)
        .execute();
      await markSeen(db, conversationId);
      break;
    }
  }
  return conversationId;
}

interface Reaction {
  by: string;
  reaction: string;
  emoji: string | null;
  at: number;
}

/** Marks the outbound messages the customer has read (up to the conversation's read mark) as seen. */
async function markSeen(db: Db, conversationId: string) {
  const c = await db
    .selectFrom('conversations')
    .select(['readUpTo', 'readAt'])
    .where('id', '=', conversationId)
    .executeTakeFirstOrThrow();
  if (c.readUpTo === null || c.readAt === null) return;
  await db
    .updateTable('messages')
    .set({ status: 'seen', seenAt: Number(c.readAt), updatedAt: Date.now() })
    .where('conversationId', '=', conversationId)
    .where('direction', '=', 'outbound')
    .where('createdAt', '<=', Number(c.readUpTo))
    .where('seenAt', 'is', null)
    .execute();
}

/** The message type the API shows: text, story_mention, story_reply, image, ig_reel, ... */
function messageType(m: Pick<MessageEvent, 'text' | 'attachments' | 'replyTo' | 'isUnsupported'>): string {
  if (m.isUnsupported) return 'unsupported';
  const types = m.attachments.map((a: Attachment) => a.type);
  if (types.includes('story_mention')) return 'story_mention';
  // Since Nov 2025 a shared post carries both `share` and `ig_post`; the specific one wins.
  if (types.includes('ig_post')) return 'ig_post';
  if (types[0]) return types[0];
  if (m.replyTo && 'story' in m.replyTo) return 'story_reply';
  return 'text';
}

async function ensureConversation(db: Db, channelId: string, igsid: string, at: number): Promise<string> {
  const id = conversationIdOf(channelId, igsid);
  const exists = await db.selectFrom('conversations').select('id').where('id', '=', id).executeTakeFirst();
  if (exists) return id;
  const now = Date.now();
  const contactId = contactIdOf(channelId, igsid);
  await db
    .insertInto('contacts')
    .values({
      id: contactId,
      channelId,
      igsid,
      username: null,
      name: null,
      profilePic: null,
      createdAt: now,
      updatedAt: now,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  await db
    .insertInto('conversations')
    .values({
      id,
      channelId,
      igsid,
      contactId,
      status: 'open',
      threadOwner: 'bot',
      lastInboundAt: null,
      lastMessageAt: at || now,
      readUpTo: null,
      readAt: null,
      createdAt: Math.min(now, at || now),
      updatedAt: now,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  return id;
}

/** The later of a column and a time (portable: SQLite's max(a, b) is PostgreSQL's greatest). */
const later = (column: Expression<number | null>, at: number) =>
  sql<number>`case when ${column} is not null and ${column} > ${at} then ${column} else ${at} end`;

/** Moves the conversation's clocks forward (never back: events can arrive out of order). */
async function touchConversation(db: Db, id: string, at: number, inbound: boolean, isMessage = true) {
  await db
    .updateTable('conversations')
    .set((eb) => ({
      updatedAt: Date.now(),
      ...(isMessage && {
        lastMessageAt: later(eb.ref('lastMessageAt'), at),
      }),
      ...(inbound && {
        lastInboundAt: later(eb.ref('lastInboundAt'), at),
      }),
    }))
    .where('id', '=', id)
    .execute();
}

interface MessageContent {
  direction: 'inbound' | 'outbound';
  type: string;
  text: string | null;
  attachments: Attachment[];
  replyTo: unknown;
  payload: string | null;
  referral: unknown;
  status: string;
  isEcho: number;
  at: number;
}

async function upsertMessage(
  db: Db,
  channelId: string,
  conversationId: string,
  mid: string,
  c: MessageContent,
) {
  const now = Date.now();
  const content = {
    direction: c.direction,
    type: c.type,
    text: c.text,
    attachments: JSON.stringify(c.attachments),
    replyTo: c.replyTo === null ? null : JSON.stringify(c.replyTo),
    payload: c.payload,
    referral: c.referral === null ? null : JSON.stringify(c.referral),
    isEcho: c.isEcho,
    createdAt: c.at,
    updatedAt: now,
  };
  await db
    .insertInto('messages')
    .values({
      id: messageIdOf(channelId, mid),
      channelId,
      conversationId,
      mid,
      ...content,
      reactions: '[]',
      status: c.status,
      editedAt: null,
      deletedAt: null,
      seenAt: null,
    })
    // A row made earlier by an unsend or edit that overtook its message gets the content now;
    // its deletion, edit and reactions stay.
    .onConflict((oc) =>
      oc.columns(['channelId', 'mid']).doUpdateSet({
        ...content,
        text: sql<string | null>`coalesce(messages.text, excluded.text)`,
        // A placeholder (made by an update that overtook the message) takes the message's status.
        status: sql<string>`case when messages.type = 'unknown' then excluded.status else messages.status end`,
      }),
    )
    .execute();
}

/** The message's row, created as a placeholder when an update overtakes the message itself. */
async function ensureMessageRow(db: Db, channelId: string, conversationId: string, mid: string, at: number) {
  const id = messageIdOf(channelId, mid);
  const now = Date.now();
  await db
    .insertInto('messages')
    .values({
      id,
      channelId,
      conversationId,
      mid,
      direction: 'inbound',
      type: 'unknown',
      text: null,
      attachments: '[]',
      replyTo: null,
      payload: null,
      referral: null,
      reactions: '[]',
      status: 'received',
      isEcho: 0,
      editedAt: null,
      deletedAt: null,
      seenAt: null,
      createdAt: at,
      updatedAt: now,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  return id;
}
