// Meta's JSON on the wire, and the webhook bodies it delivers. Meta escapes every non-ASCII
// character as \uXXXX (UTF-16 code units, so an emoji becomes a surrogate pair) and '/' as '\/'
// before signing; a receiver that re-serialises before verifying breaks, which is what the sandbox
// must exercise.

/** JSON.stringify, then Meta's escaping: non-ASCII as lowercase \uXXXX, '/' as '\/'. */
export function metaJson(value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) return '';
  return json
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/\//g, '\\/');
}

export type Json = Record<string, unknown>;

/** One `entry[].messaging[]` item: sender, recipient, timestamp, then the event's own key. */
export function messagingItem(sender: string, recipient: string, timestamp: number, event: Json): Json {
  return { sender: { id: sender }, recipient: { id: recipient }, timestamp, ...event };
}

/** A webhook body with messaging items for one account (entry.time in milliseconds). */
export function messagingWebhook(accountId: string, time: number, items: Json[]): Json {
  return { object: 'instagram', entry: [{ time, id: accountId, messaging: items }] };
}

/** A webhook body with `changes` for one account (entry.time in seconds, as Meta sends). */
export function changesWebhook(accountId: string, timeMs: number, field: string, value: Json): Json {
  return {
    object: 'instagram',
    entry: [{ time: Math.floor(timeMs / 1000), id: accountId, changes: [{ field, value }] }],
  };
}

/** The emoji Meta sends with each reaction. */
export const REACTION_EMOJI: Record<string, string> = {
  like: '\u{1f44d}',
  love: '\u2764\ufe0f',
  laugh: '\u{1f602}',
  wow: '\u{1f62e}',
  sad: '\u{1f622}',
  angry: '\u{1f621}',
  other: '\u{1f525}',
};

/** Meta's `created_time` format: 2026-01-01T12:00:00+0000. */
export const graphTime = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+0000');
