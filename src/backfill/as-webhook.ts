import type { MessageDetails } from './conversations-api.ts';

// A message read from the Conversations API, written as the webhook Meta would have sent for it, so
// that it goes through the same event log, dedup key (its mid) and projector as a delivered one: a
// customer's message as a `message`, the account's own (sent from the Instagram app, or by igdm) as
// an echo. Attachments come in the Conversations API's shape (image_data, video_data, file_url, ...)
// or, from igdm's sandbox, already in the webhook's ({type, payload}).

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const urlOf = (v: unknown): string | undefined =>
  isObject(v) && typeof v.url === 'string' ? v.url : undefined;

/** One Conversations API attachment as a webhook attachment. */
export function webhookAttachment(a: Json): Json {
  if (typeof a.type === 'string' && (a.payload === undefined || isObject(a.payload))) return a;
  const mime = typeof a.mime_type === 'string' ? a.mime_type : '';
  const image = urlOf(a.image_data);
  if (image) return { type: 'image', payload: { url: image } };
  const video = urlOf(a.video_data);
  if (video) return { type: mime.startsWith('audio/') ? 'audio' : 'video', payload: { url: video } };
  if (typeof a.file_url === 'string') {
    const type = mime.startsWith('audio/') ? 'audio' : mime.startsWith('video/') ? 'video' : 'file';
    return { type, payload: { url: a.file_url } };
  }
  // Kept as it came: the projector keeps unknown types rather than dropping them.
  return { type: 'unknown', payload: a };
}

/**
 * The webhook body for one message of a conversation with `igsid`, or null when it cannot be read
 * (no sender, no time). `accountId` is the channel's IG account (entry id, the echo's sender).
 */
export function asWebhook(m: MessageDetails, accountId: string, igsid: string, now: number): Json | null {
  const time = Date.parse(m.created_time ?? '');
  const from = m.from?.id;
  if (!Number.isFinite(time) || !from) return null;
  const echo = from === accountId;
  const message: Json = { mid: m.id };
  if (typeof m.message === 'string' && m.message !== '') message.text = m.message;
  const attachments = [...(m.attachments?.data ?? []), ...(m.shares?.data ?? [])]
    .filter(isObject)
    .map(webhookAttachment);
  if (m.story?.mention?.link)
    attachments.push({ type: 'story_mention', payload: { url: m.story.mention.link } });
  if (attachments.length) message.attachments = attachments;
  if (m.story?.reply_to?.link)
    message.reply_to = { story: { url: m.story.reply_to.link, id: m.story.reply_to.id ?? '' } };
  if (m.is_unsupported === true) message.is_unsupported = true;
  if (echo) message.is_echo = true;
  const [sender, recipient] = echo ? [accountId, igsid] : [igsid, accountId];
  return {
    object: 'instagram',
    entry: [
      {
        id: accountId,
        time: now,
        messaging: [{ sender: { id: sender }, recipient: { id: recipient }, timestamp: time, message }],
      },
    ],
  };
}

/** The customer of a conversation, from one of its messages: the side that is not the account. */
export function customerOf(m: MessageDetails, accountId: string): string | null {
  if (m.from?.id && m.from.id !== accountId) return m.from.id;
  const to = m.to?.data?.find((t) => t.id && t.id !== accountId)?.id;
  return to ?? null;
}
