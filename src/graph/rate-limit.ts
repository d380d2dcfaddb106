// Send rate limits per account: Meta's (100 calls/s for text, links, reactions and stickers; 10/s
// for audio and video) and the caps an operator adds (per hour, per minute, per recipient per day).
// Sliding windows: no window of the period ever holds more than the limit, and a send waits for
// capacity instead of failing.

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

interface Window {
  key: string;
  limit: number;
  periodMs: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export class RateLimiter {
  readonly #limits: RateLimits;
  readonly #hits = new Map<string, number[]>();
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
    const l = this.#limits;
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

  /** Milliseconds until a send fits in every window (0: now). */
  wait(account: string, kind: string, recipient: string | null): number {
    const now = this.#now();
    let wait = 0;
    for (const w of this.#windows(account, kind, recipient)) {
      const hits = this.#prune(w, now);
      if (hits.length >= w.limit) wait = Math.max(wait, hits[hits.length - w.limit]! + w.periodMs - now);
    }
    return wait;
  }

  /** Waits for capacity, then counts the send. */
  async take(account: string, kind: string, recipient: string | null): Promise<void> {
    for (let ms = this.wait(account, kind, recipient); ms > 0; ms = this.wait(account, kind, recipient)) {
      await this.#sleep(ms);
    }
    this.record(account, kind, recipient);
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
