import type { StoredEvent } from '../store/events.ts';

/** An event as it is delivered: on the stream (GET /v1/events) and to webhook endpoints. */
export const eventView = (e: StoredEvent) => ({
  id: String(e.id),
  event: e.event,
  createdAt: new Date(e.createdAt).toISOString(),
  channelId: e.channelId,
  conversationId: e.conversationId,
  data: e.data,
});
