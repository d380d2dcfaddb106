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
// A reader starting now also keeps the snapshot it started at and passes over the rows after its
// position that had committed by then (an older transaction still open kept them above it).

/** PostgreSQL: a snapshot's transactions (pg_current_snapshot()): below xmin ended, from xmax on not begun. */
export interface Snapshot {
  xmin: number;
  xmax: number;
  /** Between the two, those still running. */
  running: ReadonlySet<number>;
}

/** Where a reader is in the log. On SQLite tx is always 0 and the id alone orders. */
export interface LogPosition {
  tx: number;
  id: number;
  /**
   * PostgreSQL, a reader that started now (lastPosition): the snapshot taken then. A row after the
   * position whose transaction had committed in it came before the reader and is passed over.
   */
  startedAt?: Snapshot;
}

export type LoggedEvent = StoredEvent & { tx: number };

export const START: LogPosition = { tx: 0, id: 0 };

/** Whether `a` comes after `b` in the log's reading order. */
export const isAfter = (a: LogPosition, b: LogPosition): boolean =>
  a.tx > b.tx || (a.tx === b.tx && a.id > b.id);

/** Whether the transaction `tx` had committed when `s` was taken (pg_visible_in_snapshot; a row's tx committed). */
const committedIn = (s: Snapshot, tx: number): boolean => tx < s.xmin || (tx < s.xmax && !s.running.has(tx));

/** Whether `e` committed before the reader at `pos` started: it is passed over, not read. */
export const before = (pos: LogPosition, e: LoggedEvent): boolean =>
  pos.startedAt !== undefined && committedIn(pos.startedAt, e.tx);

/**
 * The position after `e`. Its snapshot stays until the position reaches the snapshot's xmax: every
 * row from there on is of a transaction that began later.
 */
export const past = (pos: LogPosition, e: LoggedEvent): LogPosition =>
  pos.startedAt && e.tx < pos.startedAt.xmax
    ? { tx: e.tx, id: e.id, startedAt: pos.startedAt }
    : { tx: e.tx, id: e.id };

/** A snapshot as pg_snapshot's text, to keep it in a row (webhook endpoints). */
export const snapshotText = (s: Snapshot): string => `${s.xmin}:${s.xmax}:${[...s.running].join(',')}`;

/** pg_snapshot's text: `xmin:xmax:xip,xip,…`. */
export function snapshotOf(text: string): Snapshot {
  const [xmin, xmax, running] = text.split(':');
  return {
    xmin: Number(xmin),
    xmax: Number(xmax),
    running: new Set(running ? running.split(',').map(Number) : []),
  };
}

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

/**
 * Where a reader starting now begins: after the last event it may read. On PostgreSQL, with the
 * snapshot of now (one statement: the position is taken below that snapshot's xmin), so that it
 * passes over what committed before it, above that xmin.
 */
export async function lastPosition(db: Kysely<Database>): Promise<LogPosition> {
  if (kindOf(db) === 'sqlite') {
    const row = await db
      .selectFrom('events')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    return { tx: 0, id: Number(row?.id ?? 0) };
  }
  const { rows } = await sql<{ snapshot: string; tx: number | null; id: number | null }>`
    with started as (select pg_current_snapshot() as s)
    select started.s::text as snapshot, last.tx, last.id from started left join lateral (
      select tx, id from events
      where tx is not null and tx < pg_snapshot_xmin(started.s)::text::bigint
      order by tx desc, id desc limit 1) last on true`.execute(db);
  const row = rows[0]!;
  return {
    ...(row.id === null ? START : { tx: Number(row.tx), id: Number(row.id) }),
    startedAt: snapshotOf(row.snapshot),
  };
}

/**
 * PostgreSQL: whether an endpoint's place (the event id `dispatched_up_to`) lies before `pos`, the
 * guard that keeps it from moving back (SQLite compares the ids).
 */
export const endpointBefore = (pos: LogPosition): Expression<SqlBool> =>
  sql<SqlBool>`(${txOf(sql<number>`webhook_endpoints.dispatched_up_to`)}, webhook_endpoints.dispatched_up_to)
    < (${pos.tx}, ${pos.id})`;
