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
// rows (`rate_windows`, migration 0025) instead of memory: a call takes its places in one round trip
// (igdm_rate_take, under the account's advisory lock), holds them while in flight, and is counted
// from its answer on (igdm_rate_settle, a second round trip the caller does not wait for). A process that dies mid-call leaves its places in flight until they expire
// (the Graph timeout and a margin). A new process reads the windows as they are: no priming.

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

export class SharedRateLimiter implements Limiter {
  onWait: ((w: RateLimitWait) => void) | null = null;
  readonly #db: Kysely<Database>;
  readonly #limits: RateLimits;
  readonly #o: SharedRateLimiterOptions;
  readonly #sleep: (ms: number) => Promise<void>;
  /** The last call of each account's waiting for its turn to ask the database (see take). */
  readonly #turns = new Map<string, Promise<void>>();
  /**
   * Windows the database said were full, until when (this process's clock): a call in one waits that
   * long without asking. Only a delay: a place freed sooner (a call that never left) is missed here,
   * never one too many taken.
   */
  readonly #fullUntil = new Map<string, number>();
  /** Settling writes not yet done. */
  readonly #settling = new Set<Promise<unknown>>();

  constructor(db: Kysely<Database>, limits: RateLimits, options: SharedRateLimiterOptions) {
    this.#db = db;
    this.#limits = limits;
    this.#o = options;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async take(account: string, kind: string, recipient: string | null): Promise<Taken> {
    const windows = windowsOf(this.#limits, `${this.#o.namespace}:${account}`, kind, recipient);
    // One call of an account's at a time from this process: the database serialises them anyway
    // (the account's lock), and the callers after a refusal learn from it without asking.
    const before = this.#turns.get(account) ?? Promise.resolve();
    let done = () => {};
    const turn = before.then(
      () =>
        new Promise<void>((resolve) => {
          done = resolve;
        }),
    );
    this.#turns.set(account, turn);
    await before;
    try {
      const local = this.#localNow();
      const hinted = Math.max(0, ...windows.map((w) => (this.#fullUntil.get(w.key) ?? 0) - local));
      if (hinted > 0) return { place: null, waitMs: hinted };
      const place = randomUUID();
      const keys = windows.map((w) => w.key);
      const { rows } = await sql<{
        wait: number;
        blocking: number | null;
      }>`select wait, blocking from igdm_rate_take(
          ${account}, ${place}, ${keys}::text[], ${windows.map((w) => w.limit)}::integer[],
          ${windows.map((w) => w.periodMs)}::bigint[], ${this.#o.now?.() ?? null}::bigint, ${this.#o.inFlightMs}::bigint
        )`.execute(this.#db);
      const waitMs = Number(rows[0]!.wait);
      if (waitMs === 0) return { place: this.#reservation(account, place, keys), waitMs: 0 };
      const full = windows[Number(rows[0]!.blocking) - 1];
      if (full) this.#fullUntil.set(full.key, local + waitMs);
      if (this.#fullUntil.size > 1000)
        for (const [key, until] of this.#fullUntil) if (until <= local) this.#fullUntil.delete(key);
      return { place: null, waitMs };
    } finally {
      done();
      if (this.#turns.get(account) === turn) this.#turns.delete(account);
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
    await Promise.all([...this.#settling]);
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
      const now = this.#o.now?.() ?? null;
      const write = sql`select igdm_rate_settle(${account}, ${place}, ${keys}::text[], ${now}::bigint, ${counted})`;
      const done = write
        .execute(this.#db)
        .catch((err: unknown) =>
          this.#o.log?.warn({ err }, 'could not settle a rate-limit place; it is freed when it expires'),
        )
        .finally(() => this.#settling.delete(done));
      this.#settling.add(done);
    };
    return { record: () => settle(true), release: () => settle(false) };
  }
}
