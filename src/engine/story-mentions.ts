import { createHash } from 'node:crypto';
import { GraphClient } from '../graph/client.ts';
import type { Limiter } from '../graph/rate-limit.ts';
import type { MessageEvent } from '../meta/events.ts';
import type { Channel } from '../store/channels.ts';
import { saveStoryMention } from '../store/story-mentions.ts';
import type { HandoverDeps } from './handover.ts';

// Story mentions: someone mentioned the account in their story. The mention is a message (it opens
// the 24-hour window, like any message) and is recorded here with who, when and which story. The
// webhook's CDN URL is missing or expires with the story; the story is then looked up by the
// message's mid. The story is what a thank-you is keyed by: one thank-you per story.

export interface RecordedMention {
  storyId: string | null;
  /** Identifies the story for "once per story": the person and the story's id, else its URL
   * without the signature, else the mid. */
  storyKey: string;
  /** Why the lookup failed, when it did. */
  lookup?: string;
}

const idOf = (channelId: string, mid: string) =>
  `sm_${createHash('sha256').update(`${channelId}\u0000${mid}`).digest('base64url').slice(0, 22)}`;

/**
 * The CDN URL without what changes from one delivery to the next (the signature and expiry). Meta's
 * lookaside URLs name the asset in the query (`.../ig_messaging_cdn/?asset_id=...&signature=...`),
 * so that is kept; other CDN URLs name it in the path.
 */
export function stableUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  const asset = u.searchParams.get('asset_id');
  return `${u.origin}${u.pathname}${asset ? `?asset_id=${asset}` : ''}`;
}

export async function recordStoryMention(
  deps: Pick<HandoverDeps, 'db' | 'log' | 'now' | 'graphTimeoutMs'> & {
    /** The story is read through the Conversations API (a message's node): paced within its rate. */
    conversationsApi: Limiter;
  },
  channel: Channel,
  conversationId: string,
  event: MessageEvent,
): Promise<RecordedMention> {
  const attachment = event.attachments.find((a) => a.type === 'story_mention');
  let storyId = attachment?.mediaId ?? null;
  let mediaUrl = attachment?.url ?? null;
  let lookup: string | undefined;
  if (!storyId || !mediaUrl) {
    try {
      const graph = new GraphClient(channel, { timeoutMs: deps.graphTimeoutMs });
      const account = channel.accountId ?? channel.id;
      const found = (await deps.conversationsApi.run(account, () => graph.story(event.mid))).story?.mention;
      storyId ??= found?.id ?? null;
      mediaUrl ??= found?.link ?? null;
    } catch (err) {
      lookup = (err as Error).message;
      deps.log.warn({ mid: event.mid, err: lookup }, 'story lookup failed; the mention is kept without it');
    }
  }
  await saveStoryMention(deps.db, {
    id: idOf(channel.id, event.mid),
    channelId: channel.id,
    conversationId,
    igsid: event.igsid!,
    mid: event.mid,
    storyId,
    mediaUrl,
    createdAt: event.timestamp,
    updatedAt: deps.now(),
  });
  // Per person: one person's mention never stands for another's, whatever the CDN URLs look like.
  const storyKey = `${event.igsid}:${storyId ?? (mediaUrl ? stableUrl(mediaUrl) : `mid:${event.mid}`)}`;
  return { storyId, storyKey, ...(lookup && { lookup }) };
}
