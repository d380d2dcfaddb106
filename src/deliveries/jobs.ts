import type { NewJob } from '../queue/queue.ts';

// Deliveries are jobs of their own queue, one key each: a slow or failing receiver holds up nothing
// else (no conversation's replies, no other delivery).

export const WEBHOOK_QUEUE = 'webhook';

export interface DeliveryJob {
  deliveryId: string;
}

/** The job that makes a delivery's attempts; `round` tells a retry by hand from the first. */
export const deliveryJob = (deliveryId: string, now: number, round = 'first'): NewJob => ({
  queue: WEBHOOK_QUEUE,
  key: deliveryId,
  orderAt: now,
  dedupKey: `webhook:${deliveryId}:${round}`,
  payload: { deliveryId } satisfies DeliveryJob,
});

/** How long a delivery's failed attempts are tried again. */
export const RETRY_FOR_MS = 24 * 60 * 60 * 1000;

/**
 * The wait after a failed attempt (`attempts` made so far): 5 s, 15 s, 45 s ... growing threefold up
 * to 4 h, with ±20 % jitter so that retries to one receiver spread out.
 */
export const retryDelayMs = (attempts: number, random = Math.random) =>
  Math.round(Math.min(4 * 3_600_000, 5_000 * 3 ** Math.max(0, attempts - 1)) * (0.8 + random() * 0.4));
