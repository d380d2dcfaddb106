import type { NewJob } from '../queue/queue.ts';

// The media keeper's jobs (keeper.ts): one per inbound message whose attachments have links, added
// by the projector with the message, keyed by the message (messages' copies are made in parallel).

export const MEDIA_QUEUE = 'media';

export interface MediaJob {
  messageId: string;
}

/** The media job of an inbound message with attachments that have a link, or null. */
export function mediaJobOf(
  messageId: string,
  attachments: { url?: string }[],
  orderAt: number,
): NewJob | null {
  if (!attachments.some((a) => a.url && /^https?:\/\//.test(a.url))) return null;
  return {
    queue: MEDIA_QUEUE,
    key: messageId,
    orderAt,
    dedupKey: `media:${messageId}`,
    payload: { messageId },
  };
}
