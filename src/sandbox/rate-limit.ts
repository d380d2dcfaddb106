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
  readonly #hits: Record<RateBucket, number[]> = { send: [], media: [], conversations: [] };

  constructor(limits: Omit<Record<RateBucket, number>, 'conversations'> & { conversations?: number }) {
    this.#limits = { conversations: CONVERSATIONS_PER_SECOND, ...limits };
  }

  /** Counts a call at `now` if the bucket has room; false (and not counted) when over the limit. */
  take(bucket: RateBucket, now: number): boolean {
    const hits = this.#prune(bucket, now);
    if (hits.length >= this.#limits[bucket]) return false;
    hits.push(now);
    return true;
  }

  /** Percent of the allowance used in the current window, the fuller bucket's. */
  usage(now: number): number {
    const pct = (b: RateBucket) => (this.#prune(b, now).length / this.#limits[b]) * 100;
    return Math.min(100, Math.round(Math.max(pct('send'), pct('media'))));
  }

  #prune(bucket: RateBucket, now: number): number[] {
    const hits = this.#hits[bucket];
    // A moved clock may go backwards in tests: drop what is outside [now - window, now] either way.
    const kept = hits.filter((t) => t > now - WINDOW_MS && t <= now);
    this.#hits[bucket] = kept;
    return kept;
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
