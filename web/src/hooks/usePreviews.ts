import type { Igdm, Message } from '@igdm/sdk';
import { useCallback, useRef, useState } from 'react';

// The last message of each conversation the list shows, fetched as its row comes into view (a
// conversation does not carry it), a few at a time, and again when the event stream says it changed.

const AT_ONCE = 4;

export function previewText(m: Message | null | undefined): string {
  if (m === undefined) return '';
  if (m === null) return 'No messages yet';
  const who = m.direction === 'outbound' ? 'You: ' : '';
  if (m.deletedAt) return `${who}Message unsent`;
  if (m.text) return who + m.text;
  const labels: Record<string, string> = {
    image: '📷 Photo',
    video: '🎬 Video',
    audio: '🎤 Audio',
    file: '📎 File',
    sticker: '❤️ Sticker',
    like_heart: '❤️ Sticker',
    story_mention: '📣 Mentioned you in their story',
    story_reply: '↪ Replied to your story',
    share: '🔗 Shared a post',
    ig_post: '🔗 Shared a post',
    ig_reel: '🎞 Shared a reel',
    reel: '🎞 Shared a reel',
    product_share: '🛍 Shared a product',
    template: '🗂 Cards',
    media_share: '🔗 Shared your post',
    postback: '👆 Tapped a button',
  };
  return who + (labels[m.type] ?? `(${m.type.replaceAll('_', ' ')})`);
}

export function usePreviews(client: Igdm) {
  const [previews, setPreviews] = useState<Map<string, Message | null>>(new Map());
  const wanted = useRef<string[]>([]);
  const asked = useRef(new Set<string>());
  const running = useRef(0);

  const pump = useCallback(() => {
    while (running.current < AT_ONCE && wanted.current.length > 0) {
      const id = wanted.current.shift()!;
      running.current++;
      client.conversations
        .messages(id, { limit: 1 })
        .then((page) => setPreviews((map) => new Map(map).set(id, page.data[0] ?? null)))
        .catch(() => asked.current.delete(id))
        .finally(() => {
          running.current--;
          pump();
        });
    }
  }, [client]);

  /** Fetches a conversation's last message unless it is known or on its way. */
  const want = useCallback(
    (id: string) => {
      if (asked.current.has(id)) return;
      asked.current.add(id);
      wanted.current.push(id);
      pump();
    },
    [pump],
  );

  /** Something happened in the conversation: its last message again. */
  const stale = useCallback(
    (id: string) => {
      asked.current.delete(id);
      want(id);
    },
    [want],
  );

  return { previews, want, stale };
}
