import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { JobQueue } from '../queue/queue.ts';
import { lastPosition } from '../store/event-log.ts';
import type { Database } from '../store/schema.ts';
import type { SecretBox } from '../store/secret-box.ts';
import { type Delivery, getDelivery, reopenDelivery } from '../store/webhook-deliveries.ts';
import {
  deleteEndpoint,
  type EndpointChange,
  getEndpoint,
  insertEndpoint,
  rotateSecret,
  snapshotOfPlace,
  updateEndpoint,
  type WebhookEndpoint,
} from '../store/webhook-endpoints.ts';
import type { Dispatcher } from './dispatcher.ts';
import { deliveryJob, WEBHOOK_QUEUE } from './jobs.ts';
import { newSecret } from './signing.ts';

// What the API changes about outbound webhooks: endpoints (made, changed, their secret rotated,
// deleted) and deliveries retried by hand. An endpoint gets the events that happen after it is made.

/** How long the previous secret still signs after a rotation: receivers have a day to switch. */
const PREVIOUS_SECRET_MS = 24 * 60 * 60 * 1000;

export type NewEndpoint = Pick<WebhookEndpoint, 'url' | 'description' | 'events' | 'channels' | 'enabled'>;

export class WebhookEndpoints {
  readonly #db: Kysely<Database>;
  readonly #box: SecretBox;
  readonly #jobs: Pick<JobQueue, 'enqueue' | 'wake' | 'runNow'>;
  readonly #dispatcher: Pick<Dispatcher, 'endpointsChanged'>;

  constructor(deps: {
    db: Kysely<Database>;
    box: SecretBox;
    jobs: Pick<JobQueue, 'enqueue' | 'wake' | 'runNow'>;
    dispatcher: Pick<Dispatcher, 'endpointsChanged'>;
  }) {
    this.#db = deps.db;
    this.#box = deps.box;
    this.#jobs = deps.jobs;
    this.#dispatcher = deps.dispatcher;
  }

  async create(fields: NewEndpoint, now: number): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const secret = newSecret();
    // It gets what happens from now on (on PostgreSQL, not what committed before while its place
    // was being read: the snapshot of now is kept with it).
    const from = await lastPosition(this.#db);
    const endpoint: WebhookEndpoint = {
      ...fields,
      id: `we_${randomBytes(12).toString('base64url')}`,
      dispatchedUpTo: from.id,
      dispatchSnapshot: snapshotOfPlace(from),
      createdAt: now,
      updatedAt: now,
    };
    await insertEndpoint(this.#db, this.#box, endpoint, secret);
    this.#dispatcher.endpointsChanged();
    return { endpoint, secret };
  }

  async update(
    id: string,
    change: Omit<EndpointChange, 'enable'> & { enabled?: boolean },
    now: number,
  ): Promise<WebhookEndpoint | null> {
    const { enabled, ...rest } = change;
    const changed = await this.#db.transaction().execute(async (trx) => {
      const enable = enabled === undefined ? undefined : { enabled, from: await lastPosition(trx) };
      return updateEndpoint(trx, id, { ...rest, ...(enable && { enable }) }, now);
    });
    if (!changed) return null;
    this.#dispatcher.endpointsChanged();
    return getEndpoint(this.#db, id);
  }

  /** A new secret; the previous one signs too for a day. */
  async rotate(id: string, now: number): Promise<string | null> {
    const secret = newSecret();
    return (await rotateSecret(this.#db, this.#box, id, secret, now + PREVIOUS_SECRET_MS, now))
      ? secret
      : null;
  }

  /** Its pending deliveries are cancelled when their turn comes; the log of past ones stays. */
  delete(id: string): Promise<boolean> {
    return deleteEndpoint(this.#db, id);
  }

  /**
   * One more attempt now. A pending delivery (waiting between attempts) is tried at once; a settled
   * one (delivered, failed or cancelled) is sent again, once, with the same webhook-id. Null: it was
   * deleted meanwhile (pruned, erased).
   */
  async retry(d: Delivery): Promise<Delivery | null> {
    const now = Date.now();
    if (d.status === 'pending') {
      await this.#jobs.runNow(WEBHOOK_QUEUE, [d.id]);
    } else {
      const reopened = await this.#db.transaction().execute(async (trx) => {
        if (!(await reopenDelivery(trx, d.id, now))) return false;
        await this.#jobs.enqueue(trx, [
          deliveryJob(d.id, now, `retry:${randomBytes(6).toString('base64url')}`),
        ]);
        return true;
      });
      if (!reopened) return null;
      this.#jobs.wake(WEBHOOK_QUEUE);
    }
    return getDelivery(this.#db, d.id);
  }
}
