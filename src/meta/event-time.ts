import type { RawEvent } from './events.ts';
import { timestampSchema } from './schemas.ts';
import { isRecord } from './values.ts';
import { toMillis } from './webhook.ts';

// When a webhook event happened, as normalise.ts reads it: the stored event's context (its entry,
// its receipt) and the plausibility rules that let an odd timestamp give way to a better one.

/** Seconds to milliseconds; values that already look like milliseconds (> 1e12) are kept. */
export const toMs = toMillis;

export interface Context {
  raw: RawEvent;
  accountId: string | null;
  /** entry.time in ms (null when absent or implausible). */
  entryTimeMs: number | null;
  /** When igdm received the event (ms), when known: the last resort for an implausible time. */
  receivedAt: number | null;
  standby: boolean;
  /** Under `changes` (incl. Dashboard test messaging items): timestamps are in seconds. */
  fromChanges: boolean;
}

export function contextOf(raw: RawEvent): Context {
  const entryTime = finiteNumber(raw.entryTime);
  const receivedAt = finiteNumber(raw.receivedAt) ?? null;
  const entryTimeMs = entryTime === undefined ? null : toMs(entryTime);
  return {
    raw,
    accountId: typeof raw.entryId === 'string' ? raw.entryId : null,
    entryTimeMs: entryTimeMs !== null && plausible(entryTimeMs, receivedAt) ? entryTimeMs : null,
    receivedAt,
    standby: raw.source === 'standby',
    fromChanges: false,
  };
}

/** 2010-01-01: no Instagram message is older; a smaller value is not a time in milliseconds. */
const EARLIEST_MS = 1_262_304_000_000;
/**
 * Later than this after the receipt is absurd (Meta's Dashboard sends such). Generous on purpose: the
 * sandbox's clock (and tests with it) runs ahead of the real one by months.
 */
const AHEAD_MS = 2 * 365 * 24 * 60 * 60 * 1000;

/** A time in ms that can be when the event happened (not before 2010, nor years after receipt). */
function plausible(ms: number, receivedAt: number | null): boolean {
  return Number.isFinite(ms) && ms >= EARLIEST_MS && (receivedAt === null || ms <= receivedAt + AHEAD_MS);
}

/**
 * A messaging item's time. Messaging timestamps are in milliseconds wherever the item sits (the
 * Dashboard's "Test" button sends `"timestamp":"1527459824"`: seconds, of 2018): a value in seconds,
 * not a number, or implausible (a tiny or far-future value) gives way to entry.time, then to the time
 * igdm received it. The value Meta sent is kept as `original` (and whole in the stored raw item).
 */
export function messagingTime(ctx: Context, value: unknown): { timestamp: number; original?: unknown } {
  if (value === undefined) return { timestamp: ctx.entryTimeMs ?? ctx.receivedAt ?? 0 };
  const t = timestampSchema.safeParse(value);
  if (t.success && t.data >= 1e12 && plausible(t.data, ctx.receivedAt)) return { timestamp: t.data };
  const fallback = ctx.entryTimeMs ?? ctx.receivedAt;
  if (fallback !== null) return { timestamp: fallback, original: value };
  // Nothing better known (a unit of normalise alone): seconds read as seconds.
  return t.success && Number.isFinite(t.data)
    ? { timestamp: toMs(t.data) }
    : { timestamp: 0, original: value };
}

/** Changes carry seconds: a timestamp in the value if there is one, else entry.time. */
export function changeTimestamp(ctx: Context, value: unknown): number {
  if (isRecord(value)) {
    for (const key of ['timestamp', 'created_time']) {
      const t = timestampSchema.safeParse(value[key]);
      if (t.success && plausible(toMs(t.data), ctx.receivedAt)) return toMs(t.data);
    }
  }
  return ctx.entryTimeMs ?? ctx.receivedAt ?? 0;
}

function finiteNumber(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
