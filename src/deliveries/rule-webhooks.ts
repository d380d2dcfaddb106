import type { Kysely } from 'kysely';
import type { DomainEvent } from '../meta/events.ts';
import type { JobQueue } from '../queue/queue.ts';
import type { Database } from '../store/schema.ts';
import { insertDeliveries } from '../store/webhook-deliveries.ts';
import { deliveryJob, RETRY_FOR_MS, WEBHOOK_QUEUE } from './jobs.ts';

// A rule's `webhook` action: the event, POSTed as JSON to the rule's URL. The engine only queues the
// delivery (once per event and rule: `delivery` is the dedup key), so a slow receiver never holds the
// conversation back and a retry never asks the LLM again. It goes out as an endpoint's delivery does
// (deliverer.ts), with the X-Igdm-* headers as well.

export interface RuleWebhookBody {
  /** The same for every attempt: X-Igdm-Delivery and webhook-id. */
  delivery: string;
  rule: string;
  channelId: string;
  conversationId: string;
  event: DomainEvent;
  intent: string | null;
}

export async function queueRuleWebhook(
  db: Kysely<Database>,
  jobs: Pick<JobQueue, 'enqueue' | 'wake'>,
  url: string,
  body: RuleWebhookBody,
): Promise<void> {
  // Operational time (retries), not the policy clock.
  const now = Date.now();
  const made = await db.transaction().execute(async (trx) => {
    const ids = await insertDeliveries(
      trx,
      [
        {
          endpointId: null,
          rule: body.rule,
          url,
          eventId: null,
          event: 'rule.matched',
          channelId: body.channelId,
          conversationId: body.conversationId,
          webhookId: body.delivery,
          body: JSON.stringify({ type: 'rule.matched', ...body }),
          dedupKey: `rule|${body.delivery}`,
          retryUntil: now + RETRY_FOR_MS,
        },
      ],
      now,
    );
    await jobs.enqueue(
      trx,
      ids.map((id) => deliveryJob(id, now)),
    );
    return ids.length;
  });
  if (made > 0) jobs.wake(WEBHOOK_QUEUE);
}
