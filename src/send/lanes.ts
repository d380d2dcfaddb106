import { type Kysely, sql } from 'kysely';
import { builder } from '../store/index.ts';
import { compile, param as p } from '../store/prepared.ts';
import type { Database, OutboxTable } from '../store/schema.ts';
import type { Health } from './channel-health.ts';

// Per-recipient scheduling: the outbox read into lanes, one per recipient. A lane's rows go one at
// a time, oldest first, and a row waits until every earlier row to the same recipient is settled
// (sent or failed), so a customer never reads replies out of order; up to `concurrency` lanes have
// a row in flight at once. The outbox is read in full only when it changed in a way the lanes do
// not show; rows added meanwhile are read on their own (see Schedule.rowsAdded).

/** A due outbox row, as it is sent. */
export type Row = Pick<
  OutboxTable,
  'id' | 'channelId' | 'messageId' | 'conversationId' | 'kind' | 'body' | 'human' | 'attempts' | 'createdAt'
> & { lane: string };

/**
 * How a send ended for its lane: `settled` (sent or failed: the recipient's next row may go),
 * `waiting` (back in the outbox for later: the rows behind it wait too) or `missed` (the row was no
 * longer queued). After either of the last two the outbox is read again.
 */
export type Outcome = 'settled' | 'waiting' | 'missed';

/** What the sender asks of its scheduling. */
export interface Schedule {
  /** The outbox changed in a way the lanes do not show: read it in full next time. */
  readAgain(): void;
  /** Rows were added to the outbox: read those next time. */
  rowsAdded(): void;
  /** Whether a read may find rows to start: a slot is free, and the outbox may hold more. */
  readonly wantsRead: boolean;
  read(): Promise<void>;
  /** The rows to start now: the next of each idle lane, while slots are free. */
  take(): Row[];
  /** A row from take() ended so. */
  finished(row: Row, outcome: Outcome): void;
}

/** Rows read from the outbox at a time, and at most this many of one recipient. */
const BATCH = 200;
const LANE_AHEAD = 8;

/**
 * A row's lane: its recipient. The conversation, or for a private reply to a comment whose author
 * igdm does not know, the recipient itself.
 */
const LANE = sql<string>`coalesce(conversation_id, channel_id || '|' || recipient)`;

const ROW_COLUMNS = [
  'id',
  'channelId',
  'messageId',
  'conversationId',
  'kind',
  'body',
  'human',
  'attempts',
  'createdAt',
] as const;

/** The statements of every read, compiled once (store/prepared.ts). */
const q = {
  /** Due rows, the first LANE_AHEAD of each lane, oldest first; `blocked`: a JSON array of channel ids. */
  due: compile<{ now: number; blocked: string; limit: number }, Row & { n: number }>(
    builder
      .selectFrom((eb) =>
        eb
          .selectFrom('outbox')
          .select([
            ...ROW_COLUMNS,
            LANE.as('lane'),
            sql<number>`row_number() over (partition by ${LANE} order by created_at, id)`.as('n'),
          ])
          .where('status', '=', 'queued')
          .where('nextAttemptAt', '<=', p<number>('now'))
          // One statement for any set of held channels: SQLite's json_each (PostgreSQL's would be
          // json_array_elements_text).
          .where('channelId', 'not in', sql<string>`(select value from json_each(${p<string>('blocked')}))`)
          .as('due'),
      )
      .selectAll()
      .where('n', '<=', LANE_AHEAD)
      .orderBy('createdAt')
      .orderBy('id')
      .limit(p<number>('limit')),
  ),
  /** Rows that hold up the rows behind them: in flight, waiting for an echo, or due later. */
  unsettled: compile<
    { now: number },
    Pick<OutboxTable, 'id' | 'channelId' | 'status' | 'nextAttemptAt' | 'createdAt'> & { lane: string }
  >(
    builder
      .selectFrom('outbox')
      .select(['id', 'channelId', 'status', 'nextAttemptAt', 'createdAt', LANE.as('lane')])
      .where((eb) =>
        eb.or([
          eb('status', 'in', ['sending', 'unconfirmed']),
          eb.and([eb('status', '=', 'queued'), eb('nextAttemptAt', '>', p<number>('now'))]),
        ]),
      ),
  ),
  /** The newest row so far (rowids grow as rows are added: the outbox never deletes). */
  top: compile<Record<string, never>, { top: number | null }>(
    builder.selectFrom('outbox').select(sql<number | null>`max(rowid)`.as('top')),
  ),
  /**
   * Queued rows added after `after`, oldest first. (SQLite's rowid: the scale-out store will need a
   * sequence column.)
   */
  added: compile<{ after: number }, Row & { rowid: number; nextAttemptAt: number }>(
    builder
      .selectFrom('outbox')
      .select([...ROW_COLUMNS, 'nextAttemptAt', LANE.as('lane'), sql<number>`rowid`.as('rowid')])
      .where(sql<number>`rowid`, '>', p<number>('after'))
      .where('status', '=', 'queued')
      .orderBy('createdAt')
      .orderBy('id')
      .limit(BATCH),
  ),
};

/** (createdAt, id) order. */
const before = (a: { createdAt: number; id: string }, b: { createdAt: number; id: string }) =>
  Number(a.createdAt) < Number(b.createdAt) || (Number(a.createdAt) === Number(b.createdAt) && a.id < b.id);

export interface LaneDeps {
  db: Kysely<Database>;
  /** Which channels may not send now, and until when. */
  health: Pick<Health, 'blocked' | 'heldUntil'>;
  now: () => number;
  /** Look at the outbox again at this time: a row is due, or a hold ends. */
  wakeAt: (at: number) => void;
  /** Rows in flight at once. */
  concurrency: number;
}

export class Lanes implements Schedule {
  readonly #d: LaneDeps;
  /** Rows read ahead, per lane, oldest first; none of them started. */
  #lanes = new Map<string, Row[]>();
  /** The lanes with a row in flight, and that row's id. */
  readonly #busy = new Map<string, string>();
  /** The outbox changed in a way the lanes do not show: read it again. */
  #stale = true;
  /** Rows were added: read those after `#after` (the newest row the lanes account for). */
  #added = false;
  #after: number | null = null;
  /** Lanes whose next row waits elsewhere (in backoff, unconfirmed, due later): rows added wait too. */
  #held = new Set<string>();
  /** Channels the last read left out (held, waiting for a token): rows added wait for the next read. */
  #left = new Set<string>();
  /** The last read filled its batch: other recipients' rows may be unread. */
  #more = false;
  /** Lanes read with LANE_AHEAD rows: more of theirs may be unread. */
  #full = new Set<string>();

  constructor(deps: LaneDeps) {
    this.#d = deps;
  }

  readAgain(): void {
    this.#stale = true;
  }

  rowsAdded(): void {
    this.#added = true;
  }

  get wantsRead(): boolean {
    return this.#busy.size < this.#d.concurrency && (this.#stale || this.#more || this.#added);
  }

  /**
   * Reads what the lanes may be missing: the rows added since the last read, or the whole outbox
   * when it changed otherwise (or a read left rows unread).
   */
  async read(): Promise<void> {
    this.#added = false;
    if (!this.#stale && !this.#more && this.#after !== null) await this.#readAdded();
    if (this.#stale || this.#more || this.#after === null) {
      this.#stale = false;
      await this.#readAll();
    }
  }

  take(): Row[] {
    const blocked = this.#d.health.blocked(this.#d.now());
    const rows: Row[] = [];
    for (const [lane, queued] of this.#lanes) {
      if (this.#busy.size >= this.#d.concurrency) break;
      if (this.#busy.has(lane)) continue;
      const row = queued[0]!;
      if (blocked.has(row.channelId)) {
        this.#lanes.delete(lane); // read again when the hold ends
        this.#left.add(row.channelId);
        continue;
      }
      queued.shift();
      if (queued.length === 0) {
        this.#lanes.delete(lane);
        if (this.#full.delete(lane)) this.#stale = true; // its next rows are still to be read
      }
      this.#busy.set(lane, row.id);
      rows.push(row);
    }
    return rows;
  }

  finished(row: Row, outcome: Outcome): void {
    // One step (a read between them would see the lane free but not held).
    if (outcome !== 'settled') {
      this.#lanes.delete(row.lane); // the rest of the lane waits behind it
      // A read made while this row was in flight left it out: read again, to see it as it is now.
      this.#stale = true;
    }
    this.#busy.delete(row.lane);
  }

  /**
   * Reads the due rows into lanes: the first few of each recipient, oldest first, cut at the first
   * row of the lane that is still unsettled elsewhere (in backoff, rescheduled, unconfirmed, or
   * being sent by an earlier start) so that no row overtakes an earlier one to the same recipient.
   * Two reads, not a transaction (which would wait for the write gate): only this thread changes
   * a row's status, and what it changes between them is a row this sender has in flight (its lane
   * is busy in memory) or a row queued meanwhile (the next read takes it).
   */
  async #readAll(): Promise<void> {
    const { db, health } = this.#d;
    const now = this.#d.now();
    const blocked = health.blocked(now);
    // Before the rows: a row added in between is read twice (and known), never missed.
    const top = Number((await q.top.first(db, {}))?.top ?? 0);
    const due = await q.due.all(db, { now, blocked: JSON.stringify([...blocked]), limit: BATCH });
    const unsettled = await q.unsettled.all(db, { now });

    const inFlight = new Set(this.#busy.values());
    const firstUnsettled = new Map<string, { createdAt: number; id: string }>();
    let next = Number.POSITIVE_INFINITY;
    for (const u of unsettled) {
      if (inFlight.has(u.id)) continue; // its lane is busy here: the rows behind it wait for it in memory
      const first = firstUnsettled.get(u.lane);
      if (!first || before(u, first)) firstUnsettled.set(u.lane, u);
      if (u.status !== 'sending' && !blocked.has(u.channelId)) next = Math.min(next, Number(u.nextAttemptAt));
    }
    const lanes = new Map<string, Row[]>();
    for (const row of due) {
      if (inFlight.has(row.id)) continue;
      const first = firstUnsettled.get(row.lane);
      if (first && before(first, row)) continue;
      const lane = lanes.get(row.lane);
      if (lane) lane.push(row);
      else lanes.set(row.lane, [row]);
    }
    this.#lanes = lanes;
    this.#more = due.length === BATCH;
    this.#full = new Set(due.filter((r) => Number(r.n) === LANE_AHEAD).map((r) => r.lane));
    this.#after = top;
    this.#held = new Set(firstUnsettled.keys());
    this.#left = blocked;
    for (const id of blocked) next = Math.min(next, health.heldUntil(id) ?? Number.POSITIVE_INFINITY);
    this.#d.wakeAt(next);
  }

  /**
   * Adds the rows added since the last read to their lanes, behind the rows there. A row whose lane
   * or channel the lanes do not hold in full waits for the next full read: its lane is held, full
   * (rows of it unread) or its channel left out (held; once the hold is over, read in full now).
   */
  async #readAdded(): Promise<void> {
    const added = await q.added.all(this.#d.db, { after: this.#after! });
    if (added.length === 0) return;
    if (added.length === BATCH) this.#stale = true; // a backlog: read as a whole (oldest first)
    const now = this.#d.now();
    const blocked = this.#d.health.blocked(now);
    const known = new Set(this.#busy.values());
    for (const rows of this.#lanes.values()) for (const r of rows) known.add(r.id);
    for (const row of added) {
      this.#after = Math.max(this.#after!, Number(row.rowid));
      if (known.has(row.id)) continue;
      if (this.#left.has(row.channelId) || blocked.has(row.channelId)) {
        if (!blocked.has(row.channelId)) this.#stale = true;
        this.#left.add(row.channelId);
        continue;
      }
      if (this.#held.has(row.lane) || this.#full.has(row.lane)) continue;
      const lane = this.#lanes.get(row.lane);
      // Not due yet, or made earlier than a row already in its lane but committed after it (its
      // transaction waited): the full read places it.
      if (Number(row.nextAttemptAt) > now || (lane && before(row, lane.at(-1)!))) this.#stale = true;
      else if (lane) lane.push(row);
      else this.#lanes.set(row.lane, [row]);
    }
  }
}
