import type { Kysely } from 'kysely';
import type { RateLimiter } from '../graph/rate-limit.ts';
import type { Logger } from '../log.ts';
import type { Channel } from '../store/channels.ts';
import type { Database } from '../store/schema.ts';
import { Attempts } from './attempt.ts';
import type { Health } from './channel-health.ts';
import { Lanes, type Outcome, type Row, type Schedule } from './lanes.ts';
import { Outcomes } from './outcomes.ts';
import { Reconciler } from './reconcile.ts';

// The sender works through the outbox: each recipient's rows in order, up to `concurrency` at once
// (lanes.ts); each row checked against the policy again, paced by the rate limit, sent to the Graph
// API once, and its answer acted on (attempt.ts) and recorded (outcomes.ts), with its channel's
// health (channel-health.ts). A send whose outcome igdm cannot know waits for its echo, then for
// Meta's Conversations API to say whether it went (reconcile.ts). This part only wires them and
// decides when to look at the outbox again.

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
  /** How long an interrupted send waits for its echo before Meta is asked about it. */
  echoGraceMs?: number;
  /** Rows sent at once (to different recipients). */
  concurrency?: number;
  /** Paces Conversations API calls (shared with the engine's story lookups). */
  conversationsApi: RateLimiter;
}

// Calls in flight cover the Send API's answer time: at Meta's ~0.3 s and its 100 calls/s per
// account, about 30 (with 8, igdm itself capped the rate: see BENCHMARKS.md, e2e).
const DEFAULT_CONCURRENCY = 32;
const DEFAULT_ECHO_GRACE_MS = 20_000;

export class Sender {
  readonly #d: SenderDeps;
  readonly #now: () => number;
  readonly #lanes: Schedule;
  readonly #attempts: Attempts;
  readonly #reconciler: Reconciler;
  readonly #tasks = new Set<Promise<void>>();
  #filling: Promise<void> | null = null;
  #again = false;
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Number.POSITIVE_INFINITY;
  #stopped = false;

  constructor(deps: SenderDeps) {
    this.#d = deps;
    const now = deps.now ?? Date.now;
    this.#now = now;
    const echoGraceMs = deps.echoGraceMs ?? DEFAULT_ECHO_GRACE_MS;
    const wakeAt = (at: number) => this.#wakeAt(at);
    const stopped = () => this.#stopped;
    const outcomes = new Outcomes({ db: deps.db, relaxed: deps.relaxed, now, echoGraceMs });
    this.#lanes = new Lanes({
      db: deps.db,
      health: deps.health,
      now,
      wakeAt,
      concurrency: Math.max(1, deps.concurrency ?? DEFAULT_CONCURRENCY),
    });
    this.#reconciler = new Reconciler({
      ...deps,
      outcomes,
      now,
      echoGraceMs,
      stopped,
      wakeAt,
      settled: () => this.wake(),
    });
    this.#attempts = new Attempts({
      ...deps,
      outcomes,
      now,
      stopped,
      wakeAt,
      unconfirmed: (due) => {
        this.#reconciler.waiting(due);
        this.#pump();
      },
    });
  }

  /** Sends made again though Meta could not say whether the first went (for logs and metrics). */
  get resentUnconfirmed(): number {
    return this.#reconciler.resentUnconfirmed;
  }

  /** Sends interrupted by an earlier process wait for their echo (reconcile.ts); then the outbox is read. */
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
    this.#lanes.readAgain();
    this.#pump();
  }

  /**
   * Rows were added to the outbox: read the rows added since the last read, not the whole outbox
   * (which was most of the sender's time at hundreds of replies a second).
   */
  queued(): void {
    this.#lanes.rowsAdded();
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
        this.#lanes.readAgain();
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
    if (this.#reconciler.due && (await this.#reconciler.settle())) this.#lanes.readAgain(); // their lanes may go on
    this.#startRows();
    if (this.#lanes.wantsRead) {
      await this.#lanes.read();
      this.#startRows();
    }
  }

  #startRows(): void {
    if (this.#stopped) return;
    for (const row of this.#lanes.take()) this.#start(row);
  }

  #start(row: Row): void {
    const task: Promise<void> = this.#attempts
      .send(row)
      .catch((err: unknown): Outcome => {
        this.#d.log.error({ err, outbox: row.id }, 'send failed unexpectedly; retrying in 1 s');
        this.#wakeAt(this.#now() + 1000);
        return 'waiting';
      })
      .then((outcome) => {
        this.#lanes.finished(row, outcome);
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
}
