import type { Kysely } from 'kysely';
import { builder } from './builder.ts';
import { lastPosition, positionOf, readLog } from './event-log.ts';
import { compile, param as p, type Write } from './prepared.ts';
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
  byId: compile<{ id: number }, Omit<StoredEvent, 'data'> & { data: string }>(
    builder
      .selectFrom('events')
      .select(['id', 'event', 'channelId', 'conversationId', 'data', 'createdAt'])
      .where('id', '=', p<number>('id')),
  ),
};

/** Appends events, in the caller's transaction. */
export async function recordEvents(trx: Kysely<Database>, events: NewEvent[], now: number): Promise<void> {
  // In a transaction on PostgreSQL, written without waiting for the answer (Compiled.later).
  for (const e of events) await q.insert.later(trx, argsOf(e, now));
}

/** Events as writes, to append with others in one statement (prepared.ts together()). */
export const eventWrites = (events: NewEvent[], now: number): Write[] =>
  events.map((e) => [q.insert, argsOf(e, now)]);

/** Events after the event `after`, in the order readers see them (event-log.ts). */
export async function eventsAfter(
  db: Kysely<Database>,
  after: number,
  limit: number,
): Promise<StoredEvent[]> {
  const rows = await readLog(db, await positionOf(db, after), limit);
  return rows.map(({ tx: _, ...e }) => e);
}

/** The id of the last event a reader starting now has behind it (0 when there is none). */
export async function lastEventId(db: Kysely<Database>): Promise<number> {
  return (await lastPosition(db)).id;
}

/** One event, or null when there is none (any more). */
export async function eventById(db: Kysely<Database>, id: number): Promise<StoredEvent | null> {
  const r = await q.byId.first(db, { id });
  return r
    ? {
        ...r,
        id: Number(r.id),
        createdAt: Number(r.createdAt),
        data: JSON.parse(r.data) as Record<string, unknown>,
      }
    : null;
}
