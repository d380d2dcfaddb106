import type { NewJob } from '../queue/queue.ts';

// Sends are jobs on the queue port (queue/queue.ts), one per outbox row, added in the transaction
// that writes the row. Their key is the recipient: the queue runs one recipient's jobs one at a
// time in the order they were queued, and a job that waits (a backoff, a throttle, an echo it
// expects) holds the ones behind it, so a customer never reads replies out of order. The outbox row
// stays the send's record (its status, attempts and error); the job only schedules it.

export const SEND_QUEUE = 'send';

export interface SendJob {
  outboxId: string;
}

/**
 * A row's lane: its recipient. The conversation, or for a private reply to a comment whose author
 * igdm does not know, the channel and the recipient.
 */
export const laneOf = (row: { channelId: string; conversationId: string | null; recipient: string }) =>
  row.conversationId ?? `${row.channelId}|${row.recipient}`;

export const sendJob = (row: {
  id: string;
  channelId: string;
  conversationId: string | null;
  recipient: string;
  createdAt: number;
}): NewJob => ({
  queue: SEND_QUEUE,
  key: laneOf(row),
  orderAt: row.createdAt,
  dedupKey: `send:${row.id}`,
  payload: { outboxId: row.id } satisfies SendJob,
});
