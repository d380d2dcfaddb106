import type { LastMessage } from '@igdm/sdk';

// A conversation's newest message in a line, for the list (igdm sends it with the conversation).

export function previewText(m: LastMessage | null): string {
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
