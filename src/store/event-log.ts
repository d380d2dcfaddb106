import { type Expression, type Kysely, type SqlBool, sql } from 'kysely';
import { builder } from './builder.ts';
import { kindOf } from './dialect.ts';
import { ERASED_EVENT } from './erased-events.ts';
import type { StoredEvent } from './events.ts';
import { compile, param as p } from './prepared.ts';
import type { Database } from './schema.ts';

// Reading the event log in the order its readers must follow (the stream, events/hub.ts, and the
// outbound webhooks' dispatcher). SQLite has one writer, so ids commit in order and a reader follows
// ids. On PostgreSQL the projection, the engine and the sender write events in concurrent
// transactions and ids commit out of order: a reader there follows (tx, id), where tx is the writing
// transaction's id (migrations-cursor.ts), and reads only rows whose tx is below the oldest
// transaction still running. Every transaction that could still add a row is newer than that, so
// what lies below is final and each read continues the last one (docs/postgres.md, "The event
// log's cursor"). Clients and endpoints keep the event's id: its position is found by its row.

/** Where a reader is in the log. On SQLite tx is always 0 and the id alone orders. */
export interface LogPosition {
  tx: number;
  id: number;
}

export type LoggedEvent = StoredEvent & { tx: number };

export const START: LogPosition = { tx: 0, id: 0 };

/** Whether `a` comes after `b` in the log's reading order. */
export const isAfter = (a: LogPosition, b: LogPosition): boolean =>
  a.tx > b.tx || (a.tx === b.tx && a.id > b.id);

type Row = Omit<StoredEvent, 'data'> & { data: string; tx?: number | null };

const sqliteAfter = compile<{ after: number; limit: number }, Row>(
  builder
    .selectFrom('events')
    .select(['id', 'event', 'channelId', 'conversationId', 'data', 'createdAt'])
    .where('id', '>', p<number>('after'))
    .orderBy('id')
    .limit(p<number>('limit')),
);

/** Below this, every transaction has ended: the rows under it are all there is to see. */
const HORIZON = sql`pg_snapshot_xmin(pg_current_snapshot())::text::bigint`;

/**
 * The transaction of the event `id`. An id with no row (never given, or an event since deleted:
 * PostgreSQL's erasure must keep the rows of the events it blanks) takes the latest transaction of
 * the ids below it.
 */
const txOf = (id: Expression<number> | number) => sql<number>`coalesce(
  (select e.tx from events e where e.id = ${id}),
  (select max(e.tx) from events e where e.id < ${id} and e.tx is not null), 0)`;

const eventOf = (r: Row): LoggedEvent => ({
  id: Number(r.id),
  event: r.event,
  channelId: r.channelId,
  conversationId: r.conversationId,
  data: JSON.parse(r.data) as Record<string, unknown>,
  createdAt: Number(r.createdAt),
  tx: Number(r.tx ?? 0),
});

/** Up to `limit` events after `from`, in reading order (PostgreSQL: without erased ones' blank rows). */
export async function readLog(
  db: Kysely<Database>,
  from: LogPosition,
  limit: number,
): Promise<LoggedEvent[]> {
  if (kindOf(db) === 'sqlite') return (await sqliteAfter.all(db, { after: from.id, limit })).map(eventOf);
  const { rows } = await sql<Row>`select id, event, channel_id, conversation_id, data, created_at, tx
    from events
    where tx is not null and (tx, id) > (${from.tx}, ${from.id}) and tx < ${HORIZON}
      and event <> ${ERASED_EVENT}
    order by tx, id limit ${limit}`.execute(db);
  return rows.map(eventOf);
}

/** The position of the event `id` (a client's Last-Event-ID, an endpoint's place). */
export async function positionOf(db: Kysely<Database>, id: number): Promise<LogPosition> {
  if (kindOf(db) === 'sqlite' || id <= 0) return { tx: 0, id: Math.max(id, 0) };
  const { rows } = await sql<{ tx: number }>`select ${txOf(id)} as tx`.execute(db);
  return { tx: Number(rows[0]?.tx ?? 0), id };
}

/** Where a reader starting now begins: after the last event it may read. */
export async function lastPosition(db: Kysely<Database>): Promise<LogPosition> {
  if (kindOf(db) === 'sqlite') {
    const row = await db
      .selectFrom('events')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    return { tx: 0, id: Number(row?.id ?? 0) };
  }
  const { rows } = await sql<{ tx: number; id: number }>`select tx, id from events
    where tx is not null and tx < ${HORIZON} order by tx desc, id desc limit 1`.execute(db);
  const row = rows[0];
  return row ? { tx: Number(row.tx), id: Number(row.id) } : START;
}

/**
 * PostgreSQL: whether an endpoint's place (the event id `dispatched_up_to`) lies before `pos`, the
 * guard that keeps it from moving back (SQLite compares the ids).
 */
export const endpointBefore = (pos: LogPosition): Expression<SqlBool> =>
  sql<SqlBool>`(${txOf(sql<number>`webhook_endpoints.dispatched_up_to`)}, webhook_endpoints.dispatched_up_to)
    < (${pos.tx}, ${pos.id})`;
