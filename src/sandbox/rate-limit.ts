// Meta's Send API limits per professional account, over a sliding one-second window: text, links,
// reactions and stickers share one rate, audio and video another; the Conversations API has its own
// (2 calls/s). And the usage headers Meta puts on its answers (percentages of the allowance used).
// Separate from graph/rate-limit.ts on purpose: the emulator checks igdm's sender, so it must not
// share its code.

export type RateBucket = 'send' | 'media' | 'conversations';

/** Meta's Conversations API limit per account. */
export const CONVERSATIONS_PER_SECOND = 2;

export const WINDOW_MS = 1000;

export class SendLimiter {
  readonly #limits: Record<RateBucket, number>;
  readonly #hits: Record<RateBucket, Hits> = {
    send: new Hits(),
    media: new Hits(),
    conversations: new Hits(),
  };

  constructor(limits: Omit<Record<RateBucket, number>, 'conversations'> & { conversations?: number }) {
    this.#limits = { conversations: CONVERSATIONS_PER_SECOND, ...limits };
  }

  /** Counts a call at `now` if the bucket has room; false (and not counted) when over the limit. */
  take(bucket: RateBucket, now: number): boolean {
    const hits = this.#hits[bucket];
    if (hits.within(now) >= this.#limits[bucket]) return false;
    hits.add(now);
    return true;
  }

  /** Percent of the allowance used in the current window, the fuller bucket's. */
  usage(now: number): number {
    const pct = (b: RateBucket) => (this.#hits[b].within(now) / this.#limits[b]) * 100;
    return Math.min(100, Math.round(Math.max(pct('send'), pct('media'))));
  }
}

/**
 * The times of one bucket's calls, oldest first (calls are counted at the clock's time, so they
 * come in order). Pruned from both ends, not filtered: with the limits lifted (bench/e2e), a
 * window holds hundreds of calls and every call looked at all of them.
 */
class Hits {
  #times: number[] = [];
  #start = 0;

  /** How many calls fall in [now - window, now], after dropping the rest. */
  within(now: number): number {
    const t = this.#times;
    while (this.#start < t.length && t[this.#start]! <= now - WINDOW_MS) this.#start++;
    // A moved clock may go backwards in tests: what lies after `now` goes too.
    while (t.length > this.#start && t.at(-1)! > now) t.pop();
    if (this.#start > 1024 && this.#start * 2 > t.length) {
      this.#times = t.slice(this.#start);
      this.#start = 0;
    }
    return this.#times.length - this.#start;
  }

  add(now: number): void {
    this.#times.push(now);
  }
}

/** `x-app-usage`: {"call_count","total_time","total_cputime"} in percent. */
export const appUsageHeader = (pct: number) =>
  JSON.stringify({ call_count: pct, total_time: pct, total_cputime: pct });

/** `x-business-use-case-usage`: per account, with minutes until access returns. */
export const businessUsageHeader = (accountId: string, pct: number, regainMinutes: number) =>
  JSON.stringify({
    [accountId]: [
      {
        type: 'instagram',
        call_count: pct,
        total_cputime: pct,
        total_time: pct,
        estimated_time_to_regain_access: regainMinutes,
      },
    ],
  });
