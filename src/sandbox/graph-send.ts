import { HUMAN_AGENT_WINDOW_MS, PRIVATE_REPLY_WINDOW_MS, STANDARD_WINDOW_MS } from '../meta/policy.ts';
import { appRateLimited, type GraphAnswer, noMatchingUser, outsideWindow, paramError } from './errors.ts';
import type { GraphCall } from './graph.ts';
import { cdnUrl, newOutboundMid } from './ids.ts';
import { businessUsageHeader } from './rate-limit.ts';
import { parseSend, rateBucket, type SendRequest } from './send-rules.ts';
import type { SandboxState } from './state.ts';
import { type Json, messagingItem, messagingWebhook } from './wire.ts';

// POST /{ig-id}/messages: the rate limit, the body as Meta validates it, the recipient (a customer
// who has written, or a comment for a private reply), the window, then the answer; a message sent
// is echoed back to the gateway, as Meta does.

export function sendMessage({ state, params, echo: echoed }: GraphCall): GraphAnswer {
  const o = state.options;
  const now = state.now();
  if (!state.limiter.take(rateBucket(params), now)) {
    return appRateLimited({ 'x-business-use-case-usage': businessUsageHeader(o.accountId, 100, 0) });
  }
  const usage = {
    'x-business-use-case-usage': businessUsageHeader(o.accountId, state.limiter.usage(now), 0),
  };
  const parsed = parseSend(params, (id) => state.attachments.has(id));
  if (!parsed.ok) return parsed.error;
  const send = parsed.send;

  const refused =
    'comment_id' in send.recipient ? privateReplyRefusal(state, send, now) : windowRefusal(state, send, now);
  if (refused) return refused;

  const recipientId =
    'id' in send.recipient ? send.recipient.id : state.comments.get(send.recipient.comment_id)!.igsid;
  if (send.kind === 'action') return { status: 200, body: { recipient_id: recipientId }, headers: usage };

  if ('comment_id' in send.recipient) state.comments.get(send.recipient.comment_id)!.repliedAt = now;
  const mid = newOutboundMid();
  const echo = echoMessage(state, send, mid);
  state.remember({
    mid,
    igsid: recipientId,
    direction: 'outbound',
    time: now,
    ...(typeof echo.text === 'string' && { text: echo.text }),
    ...(Array.isArray(echo.attachments) && { attachments: echo.attachments }),
  });
  if (echoed)
    state.delivery.later(
      'echo',
      messagingWebhook(o.accountId, now, [messagingItem(o.accountId, recipientId, now, { message: echo })]),
      o.echoDelayMs,
    );
  return { status: 200, body: { recipient_id: recipientId, message_id: mid }, headers: usage };
}

/** A send to a customer: they must have written, within 24 h (7 d with the HUMAN_AGENT tag). */
function windowRefusal(state: SandboxState, send: SendRequest, now: number): GraphAnswer | null {
  const customer = state.customers.get((send.recipient as { id: string }).id);
  if (!customer || customer.lastInboundAt === null) return noMatchingUser();
  const age = now - customer.lastInboundAt;
  if (age < STANDARD_WINDOW_MS) return null;
  const tagged = send.kind === 'message' && send.tag === 'HUMAN_AGENT';
  if (tagged && age < HUMAN_AGENT_WINDOW_MS) return null;
  return outsideWindow();
}

/** A private reply: to a comment the sandbox delivered, once, within 7 days of it. */
function privateReplyRefusal(state: SandboxState, send: SendRequest, now: number): GraphAnswer | null {
  const id = (send.recipient as { comment_id: string }).comment_id;
  const comment = state.comments.get(id);
  if (!comment || comment.deleted)
    return paramError(`Invalid comment_id: no comment with ID '${id}' can be replied to`, 2534025);
  if (comment.repliedAt !== null)
    return paramError(
      'This comment has already been replied to privately; a comment gets one private reply',
      2534025,
    );
  if (now - comment.time >= PRIVATE_REPLY_WINDOW_MS) return outsideWindow();
  return null;
}

/** The `message` of the echo webhook: what was sent, as Instagram shows it back. */
function echoMessage(
  state: SandboxState,
  send: Extract<SendRequest, { kind: 'message' }>,
  mid: string,
): Json {
  const m = send.message;
  const echo: Json = { mid };
  if (typeof m.text === 'string') echo.text = m.text;
  const a = m.attachment as { type: string; payload?: Record<string, unknown> } | undefined;
  if (a) {
    const type = a.type.toLowerCase();
    const p = a.payload ?? {};
    let attachment: Json;
    if (['image', 'video', 'audio', 'file'].includes(type)) {
      const url =
        typeof p.url === 'string' ? p.url : (state.attachments.get(String(p.attachment_id))?.url ?? cdnUrl());
      attachment = { type, payload: { url } };
    } else if (type === 'media_share') {
      attachment = { type: 'share', payload: { ig_post_media_id: String(p.id) } };
    } else if (type === 'like_heart') {
      attachment = { type: 'like_heart', payload: {} };
    } else {
      attachment = { type: 'template', payload: p };
    }
    echo.attachments = [attachment];
  }
  if (send.replyTo) echo.reply_to = { mid: send.replyTo };
  echo.is_echo = true;
  const appId = state.options.appId;
  echo.app_id = /^\d+$/.test(appId) && Number.isSafeInteger(Number(appId)) ? Number(appId) : appId;
  return echo;
}
