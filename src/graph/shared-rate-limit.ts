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
// rows (`rate_places`, migration 0025) instead of memory: a call takes its places in one round trip
// (igdm_rate_take, under the account's advisory lock), holds them while in flight, and is counted
// from its answer on. A process that dies mid-call leaves its places in flight until they expire
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
    const place = randomUUID();
    const now = this.#o.now?.() ?? null;
    const { rows } = await sql<{ wait: number }>`select igdm_rate_take(
        ${account}, ${place},
        ${windows.map((w) => w.key)}::text[], ${windows.map((w) => w.limit)}::integer[],
        ${windows.map((w) => w.periodMs)}::bigint[], ${now}::bigint, ${this.#o.inFlightMs}::bigint
      ) as wait`.execute(this.#db);
    const waitMs = Number(rows[0]!.wait);
    return waitMs > 0 ? { place: null, waitMs } : { place: this.#reservation(place), waitMs: 0 };
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
  #reservation(place: string): Reservation {
    let settled = false;
    const settle = (counted: boolean) => {
      if (settled) return;
      settled = true;
      const now = this.#o.now?.() ?? null;
      const write = counted
        ? sql`update rate_places
            set at = coalesce(${now}::bigint, (extract(epoch from clock_timestamp()) * 1000)::bigint), expires_at = null
            where place = ${place}`
        : sql`delete from rate_places where place = ${place}`;
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
