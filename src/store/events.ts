import type { Kysely } from 'kysely';
import { builder } from './builder.ts';
import { compile, param as p } from './prepared.ts';
import type { Database } from './schema.ts';

// The event log (src/events/): appended in the transaction of each change, read by the stream.

export interface NewEvent {
  event: string;
  channelId: string;
  conversationId: string | null;
  data: Record<string, unknown>;
  /** Set for an event derived from a webhook event: the same one is never added twice. */
  dedupKey?: string | null;
}

export interface StoredEvent {
  id: number;
  event: string;
  channelId: string;
  conversationId: string | null;
  data: Record<string, unknown>;
  createdAt: number;
}

/** The insert, for the main thread (compiled) and the projector (prepared on its connection). */
export const insertEvent = builder
  .insertInto('events')
  .values({
    event: p<string>('event'),
    channelId: p<string>('channelId'),
    conversationId: p<string | null>('conversationId'),
    data: p<string>('data'),
    dedupKey: p<string | null>('dedupKey'),
    createdAt: p<number>('now'),
  })
  .onConflict((oc) => oc.column('dedupKey').doNothing());

export type EventArgs = {
  event: string;
  channelId: string;
  conversationId: string | null;
  data: string;
  dedupKey: string | null;
  now: number;
};

export const argsOf = (e: NewEvent, now: number): EventArgs => ({
  event: e.event,
  channelId: e.channelId,
  conversationId: e.conversationId,
  data: JSON.stringify(e.data),
  dedupKey: e.dedupKey ?? null,
  now,
});

const q = {
  insert: compile<EventArgs>(insertEvent),
  after: compile<{ after: number; limit: number }, Omit<StoredEvent, 'data'> & { data: string }>(
    builder
      .selectFrom('events')
      .select(['id', 'event', 'channelId', 'conversationId', 'data', 'createdAt'])
      .where('id', '>', p<number>('after'))
      .orderBy('id')
      .limit(p<number>('limit')),
  ),
  last: compile<Record<string, never>, { id: number | null }>(
    builder.selectFrom('events').select((eb) => eb.fn.max('id').as('id')),
  ),
};

/** Appends events, in the caller's transaction. */
export async function recordEvents(trx: Kysely<Database>, events: NewEvent[], now: number): Promise<void> {
  for (const e of events) await q.insert.run(trx, argsOf(e, now));
}

/** Events after `after`, oldest first. */
export async function eventsAfter(
  db: Kysely<Database>,
  after: number,
  limit: number,
): Promise<StoredEvent[]> {
  const rows = await q.after.all(db, { after, limit });
  return rows.map((r) => ({
    ...r,
    id: Number(r.id),
    createdAt: Number(r.createdAt),
    data: JSON.parse(r.data) as Record<string, unknown>,
  }));
}

/** The newest event's id (0 when there is none). */
export async function lastEventId(db: Kysely<Database>): Promise<number> {
  return Number((await q.last.first(db, {}))?.id ?? 0);
}

/** One event, or null when there is none (any more). */
export async function eventById(db: Kysely<Database>, id: number): Promise<StoredEvent | null> {
  const [row] = await eventsAfter(db, id - 1, 1);
  return row?.id === id ? row : null;
}
