import { createHmac } from 'node:crypto';
import type { DomainEvent } from '../../meta/events.ts';

// A rule's `webhook` action: the event, POSTed as JSON to the rule's URL. With a secret, the body is
// signed like Meta signs its own (X-Igdm-Signature: sha256=HMAC). X-Igdm-Delivery is the same on a
// retry, so a receiver can drop a repeat. A failure throws, and the engine's job is retried.

export interface RuleWebhookBody {
  delivery: string;
  rule: string;
  channelId: string;
  conversationId: string;
  event: DomainEvent;
  intent: string | null;
}

const TIMEOUT_MS = 10_000;

export async function callRuleWebhook(
  target: { url: string; secret?: string },
  body: RuleWebhookBody,
): Promise<{ status: number }> {
  const json = JSON.stringify({ type: 'rule.matched', ...body });
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-igdm-delivery': body.delivery,
  };
  if (target.secret)
    headers['x-igdm-signature'] = `sha256=${createHmac('sha256', target.secret).update(json).digest('hex')}`;
  const res = await fetch(target.url, {
    method: 'POST',
    headers,
    body: json,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`rule webhook ${new URL(target.url).host} answered HTTP ${res.status}`);
  return { status: res.status };
}
