import type { Kysely } from 'kysely';
import { deliveryJob, RETRY_FOR_MS, WEBHOOK_QUEUE } from '../deliveries/jobs.ts';
import type { JobQueue } from '../queue/queue.ts';
import {
  type Approval,
  type CallbackState,
  type Decision,
  decidePending,
  setCallbackDelivery,
} from '../store/approvals.ts';
import { recordEvents } from '../store/events.ts';
import type { Database } from '../store/schema.ts';
import { insertDeliveries } from '../store/webhook-deliveries.ts';
import { approvalView, callbackBody } from './view.ts';

// Deciding an approval (an answer, a cancel, the expiry): in one transaction, the approval leaves
// `pending`, its callback becomes a webhook delivery with the job that makes it, and
// `approval.decided` joins the event log. So a decision exists exactly with its callback and its
// event, whatever crashes; the delivery's id and webhook-id are made once, and every attempt
// (retries, a restart) sends the same. A second decision finds the approval decided and does nothing.

/** The webhook-id (and X-Igdm-Delivery) of an approval's callback: one decision, one id. */
export const callbackWebhookId = (approvalId: string) => `${approvalId}.decision`;

export async function decideApproval(
  db: Kysely<Database>,
  jobs: Pick<JobQueue, 'enqueue' | 'wake'>,
  id: string,
  decision: Decision,
  now: number,
): Promise<Approval | null> {
  const decided = await db.transaction().execute(async (trx) => {
    const a = await decidePending(trx, id, decision, now);
    if (!a) return null;
    let callback: CallbackState | null = null;
    if (a.callbackUrl) {
      // Retries are operational time, not the policy clock.
      const at = Date.now();
      const [deliveryId] = await insertDeliveries(
        trx,
        [
          {
            endpointId: null,
            rule: null,
            url: a.callbackUrl,
            eventId: null,
            event: 'approval.decided',
            channelId: a.channelId,
            conversationId: a.conversationId,
            webhookId: callbackWebhookId(a.id),
            body: JSON.stringify(callbackBody(a)),
            dedupKey: `approval|${a.id}`,
            retryUntil: at + RETRY_FOR_MS,
          },
        ],
        at,
      );
      if (deliveryId) {
        await setCallbackDelivery(trx, a.id, deliveryId);
        a.callbackDeliveryId = deliveryId;
        await jobs.enqueue(trx, [deliveryJob(deliveryId, at)]);
        callback = { deliveryId, status: 'pending', attempts: 0, lastError: null };
      }
    }
    await recordEvents(
      trx,
      [
        {
          event: 'approval.decided',
          channelId: a.channelId,
          conversationId: a.conversationId,
          data: { approval: approvalView(a, callback) },
          dedupKey: `approval.decided|${a.id}`,
        },
      ],
      now,
    );
    return a;
  });
  if (decided) jobs.wake(WEBHOOK_QUEUE);
  return decided;
}
