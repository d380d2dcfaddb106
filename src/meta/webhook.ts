import { createHash } from 'node:crypto';
import type { RawEvent, RawSource } from './events.ts';

// Splitting a webhook body into its events, and the keys ingest needs before anything else runs:
// a dedup key (Meta delivers at least once), the customer (the ordering key) and Meta's timestamp.
// This runs on the ingest path for every event, so it peeks at a few fields instead of validating
// the whole shape; normalise.ts does the full validation later.

export interface SplitEvent extends RawEvent {
  /** The same for every delivery of the same event. */
  dedupKey: string;
  /** A short name of what the event is (message, echo, reaction, comments, ...), for queries and logs. */
  kind: string;
  /** The customer's IGSID when the event has one. */
  igsid: string | null;
  /** Meta's timestamp in milliseconds; 0 when the event has none. */
  timestamp: number;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const idOf = (v: unknown): string | null =>
  isObject(v) && (typeof v.id === 'string' || typeof v.id === 'number') ? String(v.id) : null;
/** A usable time value: a finite, non-negative number within what a Date can hold. */
const num = (v: unknown): number | null =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 8.64e15 ? v : null;

/** Seconds (changes) or milliseconds (messaging) → milliseconds: 1e12 ms is 2001, 1e12 s is far future. */
export const toMillis = (t: number): number => (Math.abs(t) < 1e12 ? Math.round(t * 1000) : Math.round(t));

const ENTRY_LISTS: ReadonlyArray<Exclude<RawSource, 'unknown'>> = ['messaging', 'standby', 'changes'];

/** Every event of a parsed webhook body. A body of an unknown shape becomes one 'unknown' event. */
export function splitWebhook(body: unknown): SplitEvent[] {
  const object = isObject(body) && typeof body.object === 'string' ? body.object : null;
  const entries = isObject(body) && Array.isArray(body.entry) ? body.entry : null;
  if (object === null || entries === null) return [unknownEvent(object ?? 'unknown', null, null, body)];

  const out: SplitEvent[] = [];
  for (const entry of entries) {
    if (!isObject(entry)) {
      out.push(unknownEvent(object, null, null, entry));
      continue;
    }
    const entryId = idOf(entry);
    // Stored as a whole number (an integer column): Meta's is one, and a fraction must not fail the store.
    const time = num(entry.time);
    const entryTime = time === null ? null : Math.round(time);
    let found = false;
    for (const source of ENTRY_LISTS) {
      const items = entry[source];
      if (!Array.isArray(items)) continue;
      found = true;
      for (const payload of items) out.push(describe({ object, entryId, entryTime, source, payload }));
    }
    // An entry with none of the known lists (WhatsApp's `changes` are covered; anything else is not).
    if (!found) out.push(unknownEvent(object, entryId, entryTime, entry));
  }
  return out;
}

function unknownEvent(object: string, entryId: string | null, entryTime: number | null, payload: unknown) {
  return describe({ object, entryId, entryTime, source: 'unknown', payload });
}

function describe(raw: RawEvent): SplitEvent {
  const p = isObject(raw.payload) ? raw.payload : {};
  const fallbackTime = raw.entryTime === null ? 0 : toMillis(raw.entryTime);

  if (raw.source === 'changes') {
    const field = typeof p.field === 'string' ? p.field : 'change';
    const value = isObject(p.value) ? p.value : {};
    // Messaging events can come as changes too (Meta's dashboard test sends field "messages").
    if (isObject(value.sender)) return describeMessaging(raw, value, fallbackTime);
    const igsid = idOf(value.from);
    const time = num(value.timestamp) ?? num(value.created_time);
    return {
      ...raw,
      kind: field,
      igsid,
      timestamp: time === null ? fallbackTime : toMillis(time),
      dedupKey: hashKey(raw),
    };
  }
  if (raw.source === 'unknown')
    return { ...raw, kind: 'unknown', igsid: null, timestamp: fallbackTime, dedupKey: hashKey(raw) };

  return describeMessaging(raw, p, fallbackTime);
}

function describeMessaging(raw: RawEvent, p: Json, fallbackTime: number): SplitEvent {
  const t =
    num(p.timestamp) ??
    (typeof p.timestamp === 'string' && /^\d+$/.test(p.timestamp) ? num(Number(p.timestamp)) : null);
  const timestamp = t === null ? fallbackTime : toMillis(t);
  const sender = idOf(p.sender);
  const recipient = idOf(p.recipient);
  const message = isObject(p.message) ? p.message : null;
  const mid = message && typeof message.mid === 'string' ? message.mid : null;
  if (message) {
    const echo = message.is_echo === true;
    const kind = message.is_deleted === true ? 'unsend' : echo ? 'echo' : 'message';
    const igsid = echo ? recipient : sender;
    // A mid that is not well-formed Unicode would lose characters in the store: hash those.
    const key = mid?.isWellFormed() ? `${kind}:${mid}` : hashKey(raw);
    return { ...raw, kind, igsid, timestamp, dedupKey: key };
  }
  const edit = isObject(p.message_edit) ? p.message_edit : null;
  if (edit && typeof edit.mid === 'string') {
    return {
      ...raw,
      kind: 'edit',
      igsid: sender,
      timestamp,
      dedupKey: `edit:${edit.mid}:${String(edit.num_edit ?? '')}`,
    };
  }
  const postback = isObject(p.postback) ? p.postback : null;
  if (postback) {
    const key = typeof postback.mid === 'string' ? `postback:${postback.mid}` : hashKey(raw);
    return { ...raw, kind: 'postback', igsid: sender, timestamp, dedupKey: key };
  }
  const kind =
    ['reaction', 'read', 'referral', 'pass_thread_control', 'take_thread_control', 'request_thread_control']
      .concat('release_thread_control')
      .find((k) => k in p) ?? 'unknown';
  return { ...raw, kind, igsid: sender, timestamp, dedupKey: hashKey(raw) };
}

/** A hash of the event as Meta sent it: identical redeliveries share it. */
function hashKey(raw: RawEvent): string {
  const h = createHash('sha256');
  h.update(`${raw.object}|${raw.source}|${raw.entryId ?? ''}|`);
  h.update(JSON.stringify(raw.payload) ?? 'null');
  return `hash:${h.digest('base64url')}`;
}
