import { type Kysely, sql } from 'kysely';
import { GraphClient, GraphError } from '../graph/client.ts';
import type { RateLimiter, Reservation } from '../graph/rate-limit.ts';
import type { Logger } from '../log.ts';
import type { GraphFailure } from '../meta/graph-errors.ts';
import { messagePolicy } from '../meta/policy.ts';
import type { SendBody } from '../meta/send.ts';
import { backoffMs } from '../queue/queue.ts';
import type { Channel } from '../store/channels.ts';
import { builder } from '../store/index.ts';
import { compile, param as p } from '../store/prepared.ts';
import type { Database, OutboxTable } from '../store/schema.ts';
import type { Health } from './channel-health.ts';
import { MAX_ATTEMPTS, Outcomes } from './outcomes.ts';
import { Reconciler } from './reconcile.ts';
import { conversationWindow } from './window.ts';

// The sender works through the outbox: each due row is checked against the policy again (time has
// passed since it was queued), waits for the rate limit, goes to the Graph API once, and its outcome
// is recorded. Up to `concurrency` rows are in flight at once, each to a different recipient: a
// recipient's rows (its lane) go one at a time, oldest first, and a row waits until every earlier
// row to the same recipient is settled (sent or failed), so a customer never reads replies out of
// order. Failures follow their class: retry with backoff and jitter, throttle (wait as long as Meta
// says), reauthorise (the channel stops until it has a new token), pause (368), or give up with the
// reason on the message. A send interrupted by a crash waits for its echo (reconcile.ts), then, if
// none came, for Meta's Conversations API to say whether it was sent (ask-meta.ts).

/** A rate-limit wait up to this (the per-second windows) is slept through; a longer one is rescheduled. */
const MAX_INLINE_WAIT_MS = 1000;

export interface SenderDeps {
  db: Kysely<Database>;
  /** `db` without waiting for the disk, for recording sends that reached Meta (see OutcomeDeps). */
  relaxed?: Kysely<Database>;
  channels: () => readonly Channel[];
  limiter: RateLimiter;
  log: Logger;
  now?: () => number;
  /** Each channel's health and holds, changed by the answers of its sends. */
  health: Health;
  graphTimeoutMs?: number;
  /** How long an interrupted send waits for its echo before it is sent again. */
  echoGraceMs?: number;
  /** Rows sent at once (to different recipients). */
  concurrency?: number;
  /** Paces Conversations API calls (shared with the engine's story lookups). */
  conversationsApi: RateLimiter;
}

type Row = Pick<
  OutboxTable,
  'id' | 'channelId' | 'messageId' | 'conversationId' | 'kind' | 'body' | 'human' | 'attempts' | 'createdAt'
> & { lane: string };

/**
 * How a send ended for its lane: `settled` (sent or failed: the recipient's next row may go),
 * `waiting` (back in the outbox for later: the rows behind it wait too) or `missed` (the row was no
 * longer queued). After either of the last two the outbox is read again.
 */
type Outcome = 'settled' | 'waiting' | 'missed';

// Calls in flight cover the Send API's answer time: at Meta's ~0.3 s and its 100 calls/s per
// account, about 30 (with 8, igdm itself capped the rate: see BENCHMARKS.md, e2e).
const DEFAULT_CONCURRENCY = 32;
const DEFAULT_ECHO_GRACE_MS = 20_000;
/** Rows read from the outbox at a time, and at most this many of one recipient. */
const BATCH = 200;
const LANE_AHEAD = 8;

/**
 * A row's lane: its recipient. The conversation, or for a private reply to a comment whose author
 * igdm does not know, the recipient itself. Rows of a lane go one at a time, oldest first.
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

/** The statements of every send, compiled once (store/prepared.ts). */
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

export class Sender {
  readonly #d: SenderDeps;
  readonly #now: () => number;
  readonly #concurrency: number;
  readonly #echoGraceMs: number;
  readonly #health: Health;
  readonly #outcomes: Outcomes;
  /** Rows read ahead, per lane, oldest first; none of them started. */
  #lanes = new Map<string, Row[]>();
  /** The lanes with a row in flight, and that row's id. */
  readonly #busy = new Map<string, string>();
  readonly #tasks = new Set<Promise<void>>();
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
  #filling: Promise<void> | null = null;
  #again = false;
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Number.POSITIVE_INFINITY;
  #stopped = false;
  readonly #reconciler: Reconciler;

  constructor(deps: SenderDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
    this.#concurrency = Math.max(1, deps.concurrency ?? DEFAULT_CONCURRENCY);
    this.#health = deps.health;
    this.#echoGraceMs = deps.echoGraceMs ?? DEFAULT_ECHO_GRACE_MS;
    this.#outcomes = new Outcomes({
      db: deps.db,
      relaxed: deps.relaxed,
      now: this.#now,
      echoGraceMs: this.#echoGraceMs,
    });
    this.#reconciler = new Reconciler({
      ...deps,
      outcomes: this.#outcomes,
      now: this.#now,
      echoGraceMs: this.#echoGraceMs,
      stopped: () => this.#stopped,
      wakeAt: (at) => this.#wakeAt(at),
      settled: () => this.wake(),
    });
  }

  /** Sends made again though Meta could not say whether the first went (for logs and metrics). */
  get resentUnconfirmed(): number {
    return this.#reconciler.resentUnconfirmed;
  }

  /**
   * Rows left `sending` by a crash may have reached the customer: they wait for their echo as
   * `unconfirmed` (see reconcile.ts) and keep the rows behind them waiting too.
   */
  async start(): Promise<void> {
    const now = this.#now();
    await this.#primeLimiter(now);
    await this.#reconciler.start(now);
    this.wake();
  }

  /**
   * The calls an earlier process made within the limiter's longest window count here too: Meta's
   * windows did not restart with igdm, and a quick restart with a backlog would overfill them (and
   * be throttled). A sent row counts at its sentAt; an interrupted one (sending, unconfirmed) at its
   * claim.
   */
  async #primeLimiter(now: number): Promise<void> {
    const since = now - this.#d.limiter.longestPeriodMs();
    const { db } = this.#d;
    const columns = ['channelId', 'kind', 'recipient'] as const;
    const sent = await db
      .selectFrom('outbox')
      .select([...columns, 'sentAt as at'])
      .where('sentAt', '>', since)
      .execute();
    const interrupted = await db
      .selectFrom('outbox')
      .select([...columns, 'updatedAt as at'])
      .where('status', 'in', ['sending', 'unconfirmed'])
      .where('updatedAt', '>', since)
      .execute();
    const accounts = new Map(this.#d.channels().map((c) => [c.id, c.accountId ?? c.id]));
    this.#d.limiter.prime(
      [...sent, ...interrupted].map((r) => {
        const recipient = JSON.parse(r.recipient) as { id?: string };
        return {
          account: accounts.get(r.channelId) ?? r.channelId,
          kind: r.kind,
          recipient: recipient.id ?? null,
          at: Number(r.at),
        };
      }),
    );
  }

  /** Echoes were applied: interrupted sends may be settled now. */
  echoesArrived(): void {
    if (this.#reconciler.echoesArrived()) this.#pump();
  }

  /** The outbox changed: read it again now. */
  wake(): void {
    this.#stale = true;
    this.#pump();
  }

  /**
   * Rows were added to the outbox: read the rows added since the last read, not the whole outbox
   * (which was most of the sender's time at hundreds of replies a second).
   */
  queued(): void {
    this.#added = true;
    this.#pump();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#filling;
    await Promise.all(this.#tasks); // the sends in flight are recorded
    await this.#reconciler.idle(); // the question in flight: the rest stay unconfirmed until the next start
  }

  /** One fill at a time; a call meanwhile makes another once it is done. */
  #pump(): void {
    if (this.#stopped) return;
    if (this.#filling) {
      this.#again = true;
      return;
    }
    this.#again = false;
    this.#filling = this.#fill()
      .catch((err: unknown) => {
        this.#d.log.error({ err }, 'sender failed; retrying in 1 s');
        this.#stale = true;
        this.#wakeAt(this.#now() + 1000);
      })
      .finally(() => {
        this.#filling = null;
        if (this.#again) this.#pump();
      });
  }

  /**
   * Settles what echoes allow, starts what the lanes hold, and reads the outbox only if slots are
   * still free and it may hold more. Rows queued meanwhile are newer than those read, so the lanes
   * go first (oldest first); reading on every wake made each send sort the whole backlog.
   */
  async #fill(): Promise<void> {
    if (this.#reconciler.due && (await this.#reconciler.settle())) this.#stale = true; // their lanes may go on
    this.#startLanes();
    if (this.#busy.size < this.#concurrency && (this.#stale || this.#more || this.#added)) {
      this.#added = false;
      if (!this.#stale && !this.#more && this.#after !== null) await this.#readAdded();
      if (this.#stale || this.#more || this.#after === null) {
        this.#stale = false;
        await this.#read();
      }
      this.#startLanes();
    }
  }

  /**
   * Reads the due rows into lanes: the first few of each recipient, oldest first, cut at the first
   * row of the lane that is still unsettled elsewhere (in backoff, rescheduled, unconfirmed, or
   * being sent by an earlier start) so that no row overtakes an earlier one to the same recipient.
   * Two reads, not a transaction (which would wait for the write gate): only this thread changes
   * a row's status, and what it changes between them is a row this sender has in flight (its lane
   * is busy in memory) or a row queued meanwhile (the next read takes it).
   */
  async #read(): Promise<void> {
    const now = this.#now();
    const blocked = this.#health.blocked(now);
    const { db } = this.#d;
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
    for (const id of blocked) next = Math.min(next, this.#health.heldUntil(id) ?? Number.POSITIVE_INFINITY);
    this.#wakeAt(next);
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
    const now = this.#now();
    const blocked = this.#health.blocked(now);
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

  #startLanes(): void {
    if (this.#stopped) return;
    const blocked = this.#health.blocked(this.#now());
    for (const [lane, rows] of this.#lanes) {
      if (this.#busy.size >= this.#concurrency) return;
      if (this.#busy.has(lane)) continue;
      const row = rows[0]!;
      if (blocked.has(row.channelId)) {
        this.#lanes.delete(lane); // read again when the hold ends
        this.#left.add(row.channelId);
        continue;
      }
      rows.shift();
      if (rows.length === 0) {
        this.#lanes.delete(lane);
        if (this.#full.delete(lane)) this.#stale = true; // its next rows are still to be read
      }
      this.#start(lane, row);
    }
  }

  #start(lane: string, row: Row): void {
    this.#busy.set(lane, row.id);
    const task: Promise<void> = this.#sendOne(row)
      .catch((err: unknown): Outcome => {
        this.#d.log.error({ err, outbox: row.id }, 'send failed unexpectedly; retrying in 1 s');
        this.#wakeAt(this.#now() + 1000);
        return 'waiting';
      })
      .then((outcome) => {
        // One step (a read between them would see the lane free but not held).
        if (outcome !== 'settled') {
          this.#lanes.delete(lane); // the rest of the lane waits behind it
          // A read made while this row was in flight left it out: read again, to see it as it is now.
          this.#stale = true;
        }
        this.#busy.delete(lane);
        this.#tasks.delete(task);
        this.#pump();
      });
    this.#tasks.add(task);
  }

  /** Looks at the outbox again at `at` (or sooner, if already planned). */
  #wakeAt(at: number): void {
    if (this.#stopped || !Number.isFinite(at) || at >= this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    // Timers are capped at a minute: the clock may be moved (tests), and a later read sets the next.
    const ms = Math.min(Math.max(10, at - this.#now()), 60_000);
    this.#timerAt = this.#now() + ms;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#timerAt = Number.POSITIVE_INFINITY;
      this.wake();
    }, ms);
    this.#timer.unref();
  }

  async #sendOne(row: Row): Promise<Outcome> {
    const { db } = this.#d;
    const channel = this.#d.channels().find((c) => c.id === row.channelId);
    if (!channel)
      return this.#fail(row, { reason: 'channel_missing', message: `No channel "${row.channelId}"` });
    const body = JSON.parse(row.body) as SendBody;

    // The window may have closed while the message waited.
    if (row.conversationId && 'id' in body.recipient) {
      const decision = messagePolicy({
        lastInboundAt: (await conversationWindow(db, row.conversationId))?.lastInboundAt ?? null,
        human: row.human === 1,
        now: this.#now(),
      });
      if (!decision.allowed) return this.#fail(row, { reason: decision.reason, message: decision.message });
      if (decision.tag && !body.tag) {
        if (body.sender_action)
          return this.#fail(row, { reason: 'outside_window', message: 'The 24-hour window has closed' });
        Object.assign(body, { messaging_type: 'MESSAGE_TAG', tag: decision.tag });
      }
    }

    // Meta counts a call when it arrives, somewhere between leaving igdm and its answer. So the call
    // holds a place in the windows from before it leaves (with others in flight, none may overfill
    // a window) and is counted once its answer is back: counted on leaving, a call slow in transit
    // and a fast one sent a second later could land in one window at Meta's end (seen: 6 in 1 s
    // with a limit of 5).
    const account = channel.accountId ?? channel.id;
    const recipient = 'id' in body.recipient ? body.recipient.id : null;
    const { limiter } = this.#d;
    let ms = limiter.wait(account, row.kind, recipient);
    if (ms > MAX_INLINE_WAIT_MS) {
      // Over a per-minute, per-hour or per-recipient cap: the row waits in the outbox, not the
      // sender (which would hold up every other customer and channel, and shutdown, meanwhile).
      const at = this.#now() + ms;
      await this.#outcomes.postpone(row, at);
      this.#wakeAt(at);
      return 'waiting';
    }
    while (ms > 0 && !this.#stopped) {
      await new Promise((resolve) => setTimeout(resolve, ms));
      ms = limiter.wait(account, row.kind, recipient);
    }
    if (this.#stopped) return 'waiting';
    if (!this.#health.canSend(channel.id, this.#now())) return 'waiting'; // another send of the channel met a hold meanwhile
    const place = limiter.reserve(account, row.kind, recipient);
    let claimed: boolean;
    try {
      claimed = await this.#outcomes.claim(row);
    } catch (err) {
      place.release();
      throw err;
    }
    if (!claimed) {
      place.release();
      return 'missed'; // someone else has it, or it was settled meanwhile
    }

    try {
      return await this.#call(row, channel, body, place);
    } catch (err) {
      // Not recorded (the store failed?): the send may have reached Meta, so its echo decides, as
      // after a crash. Left `sending`, the row would hold up its customer until the next start.
      await this.#interrupted(row).catch(() => {});
      throw err;
    }
  }

  async #call(row: Row, channel: Channel, body: SendBody, place: Reservation): Promise<Outcome> {
    try {
      const client = new GraphClient(channel, { timeoutMs: this.#d.graphTimeoutMs });
      const sent = await client.sendMessage(body).finally(() => place.record());
      await this.#outcomes.sent(row, channel, body, sent.messageId ?? null, this.#health.sent(channel.id));
      return 'settled';
    } catch (err) {
      if (!(err instanceof GraphError)) throw err;
      return this.#failed(row, channel, err.failure);
    }
  }

  /** Recorded as interrupted: an unconfirmed row waits for its echo (see Outcomes.interrupted). */
  async #interrupted(row: Row, f?: GraphFailure): Promise<void> {
    const left = await this.#outcomes.interrupted(row, f);
    if (!left) return;
    if (left.unconfirmed) {
      this.#reconciler.waiting(left.due);
      this.#pump();
    }
    this.#wakeAt(left.due);
  }

  /** The circuit breaker opened: its rows are read again when it closes. */
  #strike(channelId: string, now: number) {
    const until = this.#health.failed(channelId, now);
    if (until !== undefined) this.#wakeAt(until);
  }

  async #failed(row: Row, channel: Channel, f: GraphFailure): Promise<Outcome> {
    const now = this.#now();
    const attempts = row.attempts + 1;
    this.#d.log.warn(
      { channel: channel.id, outbox: row.id, action: f.action, code: f.code, reason: f.reason },
      'send failed',
    );
    switch (f.action) {
      case 'retry':
        this.#strike(channel.id, now);
        if (attempts >= MAX_ATTEMPTS) return this.#fail(row, f);
        return this.#requeue(row, now + backoffMs(attempts), f);
      case 'ambiguous':
        this.#strike(channel.id, now);
        // A sender action has no echo and is harmless to repeat: tried again like a transient failure.
        if ((JSON.parse(row.body) as SendBody).message === undefined) {
          if (attempts >= MAX_ATTEMPTS) return this.#fail(row, f);
          return this.#requeue(row, now + backoffMs(attempts), f);
        }
        // Meta may have delivered it: its echo, or Meta itself, settles it (reconcile.ts), never a
        // blind second send.
        await this.#interrupted(row, f);
        return 'waiting';
      case 'throttle': {
        const wait = f.retryAfterMs ?? 60_000;
        const health = this.#health.throttled(channel.id, now + wait);
        return this.#requeue(row, now + wait, f, { attempts: row.attempts, health }); // a throttled try does not count
      }
      case 'reauthorize': {
        const health = this.#health.needsToken(channel.id);
        return this.#requeue(row, now, f, { attempts: row.attempts, health }); // waits for the new token
      }
      case 'pause': {
        const health = this.#health.paused(channel.id, now);
        this.#wakeAt(health.until); // its rows are read again when the pause ends
        return this.#fail(row, f, { health });
      }
      default:
        return this.#fail(row, f);
    }
  }

  /** Back in the queue until `at` (see Outcomes.requeue). */
  async #requeue(
    row: Row,
    at: number,
    f: GraphFailure,
    opts?: Parameters<Outcomes['requeue']>[3],
  ): Promise<Outcome> {
    await this.#outcomes.requeue(row, at, f, opts);
    this.#wakeAt(at);
    return 'waiting';
  }

  /** Failed for good (see Outcomes.fail). */
  async #fail(
    row: Row,
    f: Parameters<Outcomes['fail']>[1],
    opts?: Parameters<Outcomes['fail']>[2],
  ): Promise<Outcome> {
    await this.#outcomes.fail(row, f, opts);
    return 'settled';
  }
}
