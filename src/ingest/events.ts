import { createHash } from 'node:crypto';
import { type SplitEvent, splitWebhook } from '../meta/webhook.ts';
import type { ChannelRoute, WriteRequest } from './protocol.ts';

// What both ingest paths (the SQLite worker, worker.ts; PostgreSQL, postgres-writer.ts) make of a
// signature-checked body: its events, each with the channel it belongs to.

/** Entry ids to channels; null for a deleted channel's (a live channel's id wins). */
export type Routes = Map<string, string | null>;

export function routeMap(list: readonly ChannelRoute[]): Routes {
  const routes: Routes = new Map();
  for (const r of list.filter((r) => !r.deleted)) {
    if (r.accountId) routes.set(r.accountId, r.id);
    if (r.pageId) routes.set(r.pageId, r.id);
  }
  for (const r of list.filter((r) => r.deleted)) {
    for (const entryId of [r.accountId, r.pageId])
      if (entryId && !routes.has(entryId)) routes.set(entryId, null);
  }
  return routes;
}

/** The channel of an event: the URL's, its entry's, or the one channel whose secret verified it. */
export function channelOf(e: SplitEvent, req: WriteRequest, routes: Routes): string | null {
  const routed = e.entryId !== null ? routes.get(e.entryId) : undefined;
  const fallback = req.verifiedBy.length === 1 ? req.verifiedBy[0]! : null;
  return req.channelId ?? (routed === undefined ? fallback : routed);
}

/** The body's events with their payloads as JSON. A body too deeply nested to re-serialise is kept whole. */
export function split(body: unknown, text: string): (SplitEvent & { json: string })[] {
  try {
    return splitWebhook(body).map((e) => ({ ...e, json: JSON.stringify(e.payload) ?? 'null' }));
  } catch {
    const key = `hash:${createHash('sha256').update(text).digest('base64url')}`;
    const e: SplitEvent = {
      object: 'unknown',
      entryId: null,
      entryTime: null,
      source: 'unknown',
      payload: text,
      dedupKey: key,
      kind: 'unknown',
      igsid: null,
      timestamp: 0,
    };
    return [{ ...e, json: JSON.stringify(text) }];
  }
}
