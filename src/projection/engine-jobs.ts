import type { DomainEvent } from '../meta/events.ts';
import type { NewJob } from '../queue/queue.ts';
import { conversationIdOf } from '../store/ids.ts';

// What the projection hands to the engine: one job per event that automation or handover may act on,
// keyed by its conversation (one at a time, in Meta's order), added in the same transaction as the
// event's effect on the conversation, and made once however often the event comes (its dedup key).

/** The engine's queue. */
export const ENGINE_QUEUE = 'engine';
const ENGINE_KINDS = new Set(['message', 'postback', 'reaction', 'referral', 'echo', 'handover', 'comment']);

/** The engine's job for a stored event, or null when the engine has nothing to do with it. */
export function engineJobOf(
  channelId: string,
  event: DomainEvent,
  stored: { id: number; dedupKey: string },
): NewJob | null {
  if (!ENGINE_KINDS.has(event.kind) || !event.igsid || event.igsid === event.accountId) return null;
  return {
    queue: ENGINE_QUEUE,
    key: conversationIdOf(channelId, event.igsid),
    orderAt: event.timestamp,
    dedupKey: `engine:${stored.dedupKey}`,
    payload: { eventId: Number(stored.id) },
  };
}
