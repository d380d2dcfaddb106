// Send rate limits per account: Meta's (100 calls/s for text, links, reactions and stickers; 10/s
// for audio and video) and the caps an operator adds (per hour, per minute, per recipient per day).
// Sliding windows: no window of the period ever holds more than the limit, and a send waits for
// capacity instead of failing. A call in flight (reserved, not yet answered) occupies a place in
// every window it falls in, so concurrent calls cannot overfill a window between leaving and their answer.

export interface RateLimits {
  /** Text, links, templates, reactions, stickers, sender actions. */
  sendPerSecond: number;
  /** Audio and video. */
  mediaPerSecond: number;
  perMinute?: number;
  perHour?: number;
  perRecipientPerDay?: number;
}

export const META_LIMITS: RateLimits = { sendPerSecond: 100, mediaPerSecond: 10 };

export interface Window {
  key: string;
  limit: number;
  periodMs: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The windows a call of `kind` to `recipient` falls in, keyed by account. */
export function windowsOf(l: RateLimits, account: string, kind: string, recipient: string | null): Window[] {
  const media = kind === 'audio' || kind === 'video';
  const windows: Window[] = [
    media
      ? { key: `${account}:media`, limit: l.mediaPerSecond, periodMs: SECOND }
      : { key: `${account}:send`, limit: l.sendPerSecond, periodMs: SECOND },
  ];
  if (l.perMinute) windows.push({ key: `${account}:minute`, limit: l.perMinute, periodMs: MINUTE });
  if (l.perHour) windows.push({ key: `${account}:hour`, limit: l.perHour, periodMs: HOUR });
  if (l.perRecipientPerDay && recipient) {
    windows.push({ key: `${account}:to:${recipient}`, limit: l.perRecipientPerDay, periodMs: DAY });
  }
  return windows;
}

/** The longest window of these limits: calls older than this no longer count anywhere. */
export function longestPeriodOf(l: RateLimits): number {
  return l.perRecipientPerDay ? DAY : l.perHour ? HOUR : l.perMinute ? MINUTE : SECOND;
}

/** A call's place in its windows while it is in flight; settle it once, with record() or release(). */
export interface Reservation {
  /** The call was made: it counts from now (its answer is back) for each window's period. */
  record(): void;
  /** The call never left: its place is free again. */
  release(): void;
}

/** A call told to wait for the limits (GET /metrics counts them). */
export interface RateLimitWait {
  account: string;
  kind: string;
  ms: number;
  /** It went back to the outbox for that long, instead of waiting in the sender. */
  postponed: boolean;
}

/** What a call asking for a place got: the place (it may leave now), or how long to wait before asking again. */
export type Taken = { place: Reservation; waitMs: 0 } | { place: null; waitMs: number };

/**
 * The limits as the sender and the Conversations API's callers use them. Two implementations: this
 * file's RateLimiter, in the process's memory (the embedded store: one process; synchronous), and
 * graph/shared-rate-limit.ts on PostgreSQL, shared by every process on the database.
 */
export interface Limiter {
  /** Told of each call that has to wait (metrics.ts). */
  onWait: ((w: RateLimitWait) => void) | null;
  /** A place if the call fits every window now, or how long until it may. */
  take(account: string, kind: string, recipient: string | null): Taken | Promise<Taken>;
  /** A call is about to wait `ms` for the limits (once per call). */
  waiting(account: string, kind: string, ms: number, postponed?: boolean): void;
  /** Makes `call` once it fits, holding its place until its answer (see RateLimiter.run). */
  run<T>(account: string, call: () => Promise<T>, kind?: string, recipient?: string | null): Promise<T>;
}

export class RateLimiter implements Limiter {
  /** Told of each call that has to wait (metrics.ts). */
  onWait: ((w: RateLimitWait) => void) | null = null;
  readonly #limits: RateLimits;
  readonly #hits = new Map<string, number[]>();
  /** Calls in flight per window key. */
  readonly #inFlight = new Map<string, number>();
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(
    limits: RateLimits = META_LIMITS,
    clock: { now?: () => number; sleep?: (ms: number) => Promise<void> } = {},
  ) {
    this.#limits = limits;
    this.#now = clock.now ?? Date.now;
    this.#sleep = clock.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  #windows(account: string, kind: string, recipient: string | null): Window[] {
    return windowsOf(this.#limits, account, kind, recipient);
  }

  /** wait(), then reserve() when it says 0: synchronous, in this process. */
  take(account: string, kind: string, recipient: string | null): Taken {
    const waitMs = this.wait(account, kind, recipient);
    return waitMs > 0
      ? { place: null, waitMs }
      : { place: this.reserve(account, kind, recipient), waitMs: 0 };
  }

  /**
   * Milliseconds until a send fits in every window (0: now). Calls in flight count as sent now and
   * leave no sooner than a full period from now (their answer, when they are counted, is still to come).
   */
  wait(account: string, kind: string, recipient: string | null): number {
    const now = this.#now();
    let wait = 0;
    for (const w of this.#windows(account, kind, recipient)) {
      const hits = this.#prune(w, now);
      // How many counted calls must leave the window before one more fits.
      const over = hits.length + (this.#inFlight.get(w.key) ?? 0) - w.limit;
      if (over < 0) continue;
      wait = Math.max(wait, over < hits.length ? hits[over]! + w.periodMs - now : w.periodMs);
    }
    return wait;
  }

  /** A call is about to wait `ms` for the limits (once per call, however often it looks again). */
  waiting(account: string, kind: string, ms: number, postponed = false): void {
    if (ms > 0) this.onWait?.({ account, kind, ms, postponed });
  }

  /** Takes a place for a call about to be made (after wait() said 0), until it is settled. */
  reserve(account: string, kind: string, recipient: string | null): Reservation {
    const keys = this.#windows(account, kind, recipient).map((w) => w.key);
    for (const key of keys) this.#inFlight.set(key, (this.#inFlight.get(key) ?? 0) + 1);
    let settled = false;
    const settle = (counted: boolean) => {
      if (settled) return;
      settled = true;
      for (const key of keys) {
        const n = (this.#inFlight.get(key) ?? 1) - 1;
        if (n > 0) this.#inFlight.set(key, n);
        else this.#inFlight.delete(key);
      }
      if (counted) this.record(account, kind, recipient);
    };
    return { record: () => settle(true), release: () => settle(false) };
  }

  /**
   * Makes `call` once it fits: it holds its place from before it leaves until its answer, and counts
   * from then, so Meta, which counts calls on arrival, never sees one too many in a window.
   */
  async run<T>(
    account: string,
    call: () => Promise<T>,
    kind = 'text',
    recipient: string | null = null,
  ): Promise<T> {
    this.waiting(account, kind, this.wait(account, kind, recipient));
    for (let ms = this.wait(account, kind, recipient); ms > 0; ms = this.wait(account, kind, recipient)) {
      await this.#sleep(ms);
    }
    const place = this.reserve(account, kind, recipient);
    try {
      return await call();
    } finally {
      place.record();
    }
  }

  /** The longest window: calls older than this no longer count anywhere. */
  longestPeriodMs(): number {
    return longestPeriodOf(this.#limits);
  }

  /**
   * Counts calls made before this limiter existed (by an earlier process, read back from the store),
   * so that a restart does not start from empty windows and overfill Meta's.
   */
  prime(calls: { account: string; kind: string; recipient: string | null; at: number }[]): void {
    for (const c of [...calls].sort((a, b) => a.at - b.at)) {
      for (const w of this.#windows(c.account, c.kind, c.recipient)) {
        const hits = this.#hits.get(w.key) ?? [];
        hits.push(c.at);
        this.#hits.set(w.key, hits);
      }
    }
    for (const hits of this.#hits.values()) hits.sort((a, b) => a - b);
  }

  /** Counts a send (for a caller that waited with wait() itself). */
  record(account: string, kind: string, recipient: string | null): void {
    const now = this.#now();
    for (const w of this.#windows(account, kind, recipient)) {
      const hits = this.#hits.get(w.key) ?? [];
      hits.push(now);
      this.#hits.set(w.key, hits);
    }
  }

  #prune(w: Window, now: number): number[] {
    const hits = this.#hits.get(w.key);
    if (!hits) return [];
    let i = 0;
    while (i < hits.length && hits[i]! <= now - w.periodMs) i++;
    if (i > 0) hits.splice(0, i);
    if (hits.length === 0) this.#hits.delete(w.key);
    return hits;
  }
}

/** Meta's Conversations API (conversations, their messages, a message's details): 2 calls/s per account. */
export const CONVERSATIONS_API_LIMITS: RateLimits = { sendPerSecond: 2, mediaPerSecond: 2 };

export const conversationsApiLimiter = (clock?: ConstructorParameters<typeof RateLimiter>[1]) =>
  new RateLimiter(CONVERSATIONS_API_LIMITS, clock);
