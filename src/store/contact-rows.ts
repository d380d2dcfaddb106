import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { type Kysely, type Selectable, sql } from 'kysely';
import { kindOf } from './dialect.ts';
import { conversationIdOf } from './ids.ts';
import type { CommentTable, Database, EventTable, OutboxTable, WebhookEventTable } from './schema.ts';

// Where a contact's rows are in the tables that have no index to find them by: the raw webhook
// events, the event log and jobs (by id), the outbox and comments (by rowid). All but comments are
// the largest tables, written on the hot paths, where an index for this rare question would cost every
// write; and node:sqlite runs a query on the calling thread, so one scan of a large table would
// hold up every request meanwhile (300k raw events: 0.3 s). They are read in slices of their ids
// instead, yielding between slices. A caller that must see every row (an erasure) reads the slices
// first, then, in its transaction, only the rows added since (`upTo`): right for a table whose ids
// only grow.

/** Whose rows: a contact (channel and IGSID) and their conversations. */
export interface Whose {
  contactId: string;
  channelId: string;
  igsid: string;
  conversationIds: string[];
}

/** The contact's conversations: the one igdm keys by channel and IGSID (and any other naming them). */
export async function whose(
  db: Kysely<Database>,
  contact: { id: string; channelId: string; igsid: string },
): Promise<Whose> {
  const named = await db
    .selectFrom('conversations')
    .select('id')
    .where('contactId', '=', contact.id)
    .execute();
  const keyed = conversationIdOf(contact.channelId, contact.igsid);
  return {
    contactId: contact.id,
    channelId: contact.channelId,
    igsid: contact.igsid,
    conversationIds: [...new Set([keyed, ...named.map((c) => c.id)])],
  };
}

/** Ids after `from`, up to and including `to`. */
export interface Range {
  from: number;
  to: number;
}

/**
 * A table read in slices: its last id, and the contact's rows within a range of ids. PostgreSQL has
 * no rowid and reads without holding up writers or the event loop: it reads them `all` at once.
 */
export interface Sliced<R> {
  top(db: Kysely<Database>): Promise<number>;
  read(db: Kysely<Database>, w: Whose, range: Range): Promise<R[]>;
  all(db: Kysely<Database>, w: Whose): Promise<R[]>;
}

const EVERY: Range = { from: 0, to: Number.MAX_SAFE_INTEGER };

const SLICE = 10_000;
const topOf = (row: { top: unknown } | undefined) => Number(row?.top ?? 0);
const rowid = sql<number>`rowid`;

export const rawEvents: Sliced<Selectable<WebhookEventTable>> = {
  top: async (db) =>
    topOf(
      await db
        .selectFrom('webhookEvents')
        .select((eb) => eb.fn.max('id').as('top'))
        .executeTakeFirst(),
    ),
  read: (db, w, r) =>
    db
      .selectFrom('webhookEvents')
      .selectAll()
      .where('id', '>', r.from)
      .where('id', '<=', r.to)
      .where('channelId', '=', w.channelId)
      .where('igsid', '=', w.igsid)
      .orderBy('id')
      .execute(),
  all: (db, w) => rawEvents.read(db, w, EVERY),
};

export const loggedEvents: Sliced<Selectable<EventTable>> = {
  top: async (db) =>
    topOf(
      await db
        .selectFrom('events')
        .select((eb) => eb.fn.max('id').as('top'))
        .executeTakeFirst(),
    ),
  read: (db, w, r) =>
    db
      .selectFrom('events')
      .selectAll()
      .where('id', '>', r.from)
      .where('id', '<=', r.to)
      .where('conversationId', 'in', w.conversationIds)
      .orderBy('id')
      .execute(),
  all: (db, w) => loggedEvents.read(db, w, EVERY),
};

/** Sends to the contact: every send to a customer, or to their comment, names their conversation. */
export const sends: Sliced<Selectable<OutboxTable>> = {
  top: async (db) =>
    topOf(await db.selectFrom('outbox').select(sql<number>`max(rowid)`.as('top')).executeTakeFirst()),
  read: (db, w, r) =>
    db
      .selectFrom('outbox')
      .selectAll()
      .where(rowid, '>', r.from)
      .where(rowid, '<=', r.to)
      .where('conversationId', 'in', w.conversationIds)
      .orderBy(rowid)
      .execute(),
  all: (db, w) =>
    db
      .selectFrom('outbox')
      .selectAll()
      .where('conversationId', 'in', w.conversationIds)
      .orderBy('createdAt')
      .orderBy('id')
      .execute(),
};

export const comments: Sliced<Selectable<CommentTable>> = {
  top: async (db) =>
    topOf(await db.selectFrom('comments').select(sql<number>`max(rowid)`.as('top')).executeTakeFirst()),
  read: (db, w, r) =>
    db
      .selectFrom('comments')
      .selectAll()
      .where(rowid, '>', r.from)
      .where(rowid, '<=', r.to)
      .where('channelId', '=', w.channelId)
      .where('igsid', '=', w.igsid)
      .orderBy(rowid)
      .execute(),
  all: (db, w) =>
    db
      .selectFrom('comments')
      .selectAll()
      .where('channelId', '=', w.channelId)
      .where('igsid', '=', w.igsid)
      .orderBy('createdAt')
      .orderBy('id')
      .execute(),
};

/** Jobs of their conversations (the queue keys a conversation's work by its id). */
export const jobs: Sliced<{ id: number }> = {
  top: async (db) =>
    topOf(
      await db
        .selectFrom('jobs')
        .select((eb) => eb.fn.max('id').as('top'))
        .executeTakeFirst(),
    ),
  read: (db, w, r) =>
    db
      .selectFrom('jobs')
      .select('id')
      .where('id', '>', r.from)
      .where('id', '<=', r.to)
      .where('key', 'in', w.conversationIds)
      .execute(),
  all: (db, w) => jobs.read(db, w, EVERY),
};

export interface Found<R> {
  rows: R[];
  /** The table's last id when it was read: rows added later have greater ids. */
  upTo: number;
}

/** The contact's rows of the table, up to its last id now, a slice at a time. */
export async function findSliced<R>(db: Kysely<Database>, table: Sliced<R>, w: Whose): Promise<Found<R>> {
  // (PostgreSQL: no slices, and no `addedSince` after them: erasure-postgres.ts reads in its transaction.)
  if (kindOf(db) === 'postgres') return { rows: await table.all(db, w), upTo: 0 };
  const upTo = await table.top(db);
  const rows: R[] = [];
  for (let from = 0; from < upTo; from += SLICE) {
    for (const row of await table.read(db, w, { from, to: Math.min(from + SLICE, upTo) })) rows.push(row);
    await yieldToEvents();
  }
  return { rows, upTo };
}

/** The contact's rows added after `upTo` (in a transaction, nothing is added meanwhile). */
export const addedSince = <R>(db: Kysely<Database>, table: Sliced<R>, w: Whose, upTo: number) =>
  table.read(db, w, { from: upTo, to: Number.MAX_SAFE_INTEGER });
