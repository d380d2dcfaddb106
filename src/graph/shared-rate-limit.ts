import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Logger } from '../log.ts';
import type { Database } from '../store/schema.ts';
import {
  type Limiter,
  type RateLimits,
  type RateLimitWait,
  type Reservation,
  type Taken,
  windowsOf,
} from './rate-limit.ts';

// The rate limits on PostgreSQL, shared by every igdm process on the database: Meta's limits hold
// per account, whichever process calls. The same rules as RateLimiter (graph/rate-limit.ts), kept in
// rows (`rate_windows`, migration 0025) instead of memory: a call takes its places under the
// account's advisory lock, holds them while in flight, and is counted from its answer on. One round
// trip per account at a time carries everything this process has for it (igdm_rate_batch, 0032):
// the places answered since the last (settled, each at its answer's time), then the calls waiting
// for a place, in order. So under load a call's two writes ride on one shared statement; a settle
// with no take to ride on goes alone a moment later (SETTLE_DELAY_MS). A process that dies mid-call
// leaves its places in flight until they expire (the Graph timeout and a margin). A new process
// reads the windows as they are: no priming.

export interface SharedRateLimiterOptions {
  /** Keeps the windows of different APIs apart (e.g. `send`, `conversations`). */
  namespace: string;
  /** How long a call in flight may hold its places (its process may have died): the Graph timeout and a margin. */
  inFlightMs: number;
  /** The clock (tests); default: the database's, the same for every process. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  log?: Logger;
}

/** Beyond the Graph timeout, before a call's place is taken for a dead process's. */
export const IN_FLIGHT_MARGIN_MS = 5_000;

/**
 * How long a settled place waits for a take of its account to ride with. It counts as in flight
 * meanwhile (as many places as once it is settled; only a full window's wait is longer for it), and
 * its answer's time goes with it.
 */
const SETTLE_DELAY_MS = 20;

type Window = ReturnType<typeof windowsOf>[number];

interface TakeAsked {
  windows: Window[];
  resolve: (t: Taken) => void;
  reject: (err: unknown) => void;
}

interface SettleAsked {
  place: string;
  keys: string[];
  counted: boolean;
  /** The given clock's time of the answer (tests), or null: the process's monotonic time of it. */
  at: number | null;
  answeredAt: number;
}

/** What this process has for one account, waiting for its next round trip. */
interface AccountBatch {
  takes: TakeAsked[];
  settles: SettleAsked[];
  /** The round trip in flight, if any (one per account at a time). */
  running: Promise<void> | null;
  timer: NodeJS.Timeout | null;
}

export class SharedRateLimiter implements Limiter {
  onWait: ((w: RateLimitWait) => void) | null = null;
  readonly #db: Kysely<Database>;
  readonly #limits: RateLimits;
  readonly #o: SharedRateLimiterOptions;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #batches = new Map<string, AccountBatch>();
  /**
   * Windows the database said were full, until when (this process's clock): a call in one waits that
   * long without asking. Only a delay: a place freed sooner (a call that never left) is missed here,
   * never one too many taken.
   */
  readonly #fullUntil = new Map<string, number>();

  constructor(db: Kysely<Database>, limits: RateLimits, options: SharedRateLimiterOptions) {
    this.#db = db;
    this.#limits = limits;
    this.#o = options;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  take(account: string, kind: string, recipient: string | null): Promise<Taken> {
    const windows = windowsOf(this.#limits, `${this.#o.namespace}:${account}`, kind, recipient);
    return new Promise<Taken>((resolve, reject) => {
      const batch = this.#batchOf(account);
      batch.takes.push({ windows, resolve, reject });
      this.#send(account, batch);
    });
  }

  #batchOf(account: string): AccountBatch {
    let batch = this.#batches.get(account);
    if (!batch) {
      batch = { takes: [], settles: [], running: null, timer: null };
      this.#batches.set(account, batch);
    }
    return batch;
  }

  /** Sends what the account has now, unless a round trip of its is in flight (its end sends it). */
  #send(account: string, batch: AccountBatch): void {
    if (batch.running) return;
    if (batch.timer) {
      clearTimeout(batch.timer);
      batch.timer = null;
    }
    const local = this.#localNow();
    // In order: a call in a window known to be full waits without asking (the ones after it may fit
    // other windows: a different recipient's).
    const takes: { asked: TakeAsked; place: string }[] = [];
    for (const asked of batch.takes.splice(0)) {
      const hinted = Math.max(0, ...asked.windows.map((w) => (this.#fullUntil.get(w.key) ?? 0) - local));
      if (hinted > 0) asked.resolve({ place: null, waitMs: hinted });
      else takes.push({ asked, place: randomUUID() });
    }
    const settles = batch.settles.splice(0);
    if (takes.length === 0 && settles.length === 0) {
      this.#batches.delete(account);
      return;
    }
    batch.running = this.#roundTrip(account, takes, settles).finally(() => {
      batch.running = null;
      if (batch.takes.length > 0) this.#send(account, batch);
      else if (batch.settles.length > 0) this.#later(account, batch);
      else this.#batches.delete(account);
    });
  }

  /** A settle with no take to ride on goes alone, a moment later. */
  #later(account: string, batch: AccountBatch): void {
    if (batch.running || batch.timer) return;
    batch.timer = setTimeout(() => {
      batch.timer = null;
      this.#send(account, batch);
    }, SETTLE_DELAY_MS);
    batch.timer.unref();
  }

  async #roundTrip(
    account: string,
    takes: { asked: TakeAsked; place: string }[],
    settles: SettleAsked[],
  ): Promise<void> {
    const now = performance.now();
    const settled = settles.map((s) => ({
      place: s.place,
      keys: s.keys,
      counted: s.counted,
      // Whole milliseconds, rounded down: never counted from before the answer came.
      ...(s.at === null ? { ago: Math.max(0, Math.floor(now - s.answeredAt)) } : { at: s.at }),
    }));
    const asked = takes.map(({ asked, place }) => ({
      place,
      keys: asked.windows.map((w) => w.key),
      limits: asked.windows.map((w) => w.limit),
      periods: asked.windows.map((w) => w.periodMs),
    }));
    try {
      const { rows } = await sql<{ wait: number | string; blocking: number | null }>`select wait, blocking
        from igdm_rate_batch(${account}, ${JSON.stringify(settled)}::jsonb, ${JSON.stringify(asked)}::jsonb,
          ${this.#o.now?.() ?? null}::bigint, ${this.#o.inFlightMs}::bigint)`.execute(this.#db);
      if (rows.length !== takes.length)
        throw new Error(`igdm_rate_batch answered ${rows.length} of ${takes.length}`);
      const local = this.#localNow();
      for (const [i, { asked: a, place }] of takes.entries()) {
        const waitMs = Number(rows[i]!.wait);
        const keys = asked[i]!.keys;
        if (waitMs === 0) {
          a.resolve({ place: this.#reservation(account, place, keys), waitMs: 0 });
          continue;
        }
        const full = a.windows[Number(rows[i]!.blocking) - 1];
        if (full) this.#fullUntil.set(full.key, local + waitMs);
        a.resolve({ place: null, waitMs });
      }
      if (this.#fullUntil.size > 1000)
        for (const [key, until] of this.#fullUntil) if (until <= local) this.#fullUntil.delete(key);
    } catch (err) {
      for (const { asked } of takes) asked.reject(err); // a take answered already is not changed
      // The settles go again with the account's next round trip, while their places may still be in
      // flight there; a place expired meanwhile is free anyway (and its answer not counted).
      const current = performance.now();
      const kept = settles.filter((s) => current - s.answeredAt < this.#o.inFlightMs);
      if (kept.length < settles.length)
        this.#o.log?.warn({ err }, 'could not settle rate-limit places; they are freed when they expire');
      if (kept.length > 0) this.#batchOf(account).settles.unshift(...kept);
    }
  }

  #localNow(): number {
    return this.#o.now?.() ?? Date.now();
  }

  waiting(account: string, kind: string, ms: number, postponed = false): void {
    if (ms > 0) this.onWait?.({ account, kind, ms, postponed });
  }

  async run<T>(
    account: string,
    call: () => Promise<T>,
    kind = 'text',
    recipient: string | null = null,
  ): Promise<T> {
    let taken = await this.take(account, kind, recipient);
    this.waiting(account, kind, taken.waitMs);
    while (!taken.place) {
      await this.#sleep(taken.waitMs);
      taken = await this.take(account, kind, recipient);
    }
    const place = taken.place;
    try {
      return await call();
    } finally {
      place.record();
    }
  }

  /** Resolves once every place settled so far is written (tests; and before the pool closes). */
  async settled(): Promise<void> {
    // A round trip in flight sends what came meanwhile when it ends: a few passes wait for those too.
    // Settles that keep failing (the database is down) are left to their timer, not waited for.
    for (let pass = 0; pass < 3; pass++) {
      for (const [account, batch] of this.#batches) this.#send(account, batch);
      const running = [...this.#batches.values()].flatMap((b) => (b.running ? [b.running] : []));
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  /**
   * Settled without waiting for the write: the caller goes on at once. Until the write lands the place
   * counts as in flight (as if sent at the latest moment), which never lets a window overfill; if it
   * fails, the place expires.
   */
  #reservation(account: string, place: string, keys: string[]): Reservation {
    let settled = false;
    const settle = (counted: boolean) => {
      if (settled) return;
      settled = true;
      // A place freed: its windows may have room before the last refusal said.
      if (!counted) for (const key of keys) this.#fullUntil.delete(key);
      const batch = this.#batchOf(account);
      batch.settles.push({
        place,
        keys,
        counted,
        at: this.#o.now?.() ?? null,
        answeredAt: performance.now(),
      });
      if (batch.takes.length > 0) this.#send(account, batch);
      else this.#later(account, batch);
    };
    return { record: () => settle(true), release: () => settle(false) };
  }
}
