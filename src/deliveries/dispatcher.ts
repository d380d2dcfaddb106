import type { Kysely } from 'kysely';
import type { Logger } from '../log.ts';
import type { JobQueue } from '../queue/queue.ts';
import { before, isAfter, type LogPosition, past, positionOf, readLog } from '../store/event-log.ts';
import type { StoredEvent } from '../store/events.ts';
import type { Database } from '../store/schema.ts';
import { insertDeliveries, type NewDelivery, pruneDeliveries } from '../store/webhook-deliveries.ts';
import { listEndpoints, markDispatched, placeOf, type WebhookEndpoint } from '../store/webhook-endpoints.ts';
import { deliveryJob, RETRY_FOR_MS, WEBHOOK_QUEUE } from './jobs.ts';

// Follows the event log and makes a delivery (with its job) for each event an endpoint asked for.
// Each endpoint keeps how far into the log it has been served, in the transaction that makes its
// deliveries: after a crash the dispatcher goes on from there, and a delivery's dedup key (endpoint,
// event) keeps a repeat from being made twice. The place is an event id, followed in the log's
// reading order (store/event-log.ts: (transaction, id) on PostgreSQL, where ids commit out of
// order). Woken when the projector applied events, and every 200 ms for what the main thread wrote
// (the stream, events/hub.ts, looks every 50 ms).

const PAGE = 500;
const LOOK_EVERY_MS = 200;
/** Settled deliveries past their retention are deleted at most this often. */
const PRUNE_EVERY_MS = 3_600_000;

export class Dispatcher {
  readonly #db: Kysely<Database>;
  readonly #jobs: Pick<JobQueue, 'enqueue' | 'wake'>;
  readonly #log: Logger;
  #running: Promise<void> | null = null;
  #again = false;
  #timer: NodeJS.Timeout | null = null;
  /**
   * With no endpoint enabled, until when a wake does not look again (performance.now()): the
   * projection wakes the dispatcher after every batch, and the list was one more read per batch.
   * Endpoints made or changed elsewhere are seen by the timer's next look.
   */
  #noneUntil = 0;
  /** Counts endpointsChanged(): a look that began before a change must not put off the next. */
  #changes = 0;

  /** How long settled deliveries are kept; null: for ever. */
  readonly #keepMs: number | null;
  #prunedAt = 0;

  constructor(
    db: Kysely<Database>,
    jobs: Pick<JobQueue, 'enqueue' | 'wake'>,
    log: Logger,
    options: { keepMs?: number | null } = {},
  ) {
    this.#db = db;
    this.#jobs = jobs;
    this.#log = log;
    this.#keepMs = options.keepMs ?? null;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.wake(), LOOK_EVERY_MS).unref();
    this.wake();
  }

  /** Resolves when what is in the log now has been dispatched (for tests and shutdown). */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  /** An endpoint was made or changed here: look now. */
  endpointsChanged(): void {
    this.#changes++;
    this.#noneUntil = 0;
    this.wake();
  }

  /**
   * The log may have grown. Only where the dispatcher runs (start(): the leader): a process that
   * applied events elsewhere (a web process) leaves them to the leader's look every LOOK_EVERY_MS.
   */
  wake(): void {
    if (!this.#timer || performance.now() < this.#noneUntil) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#dispatch()
      .catch((err: unknown) => this.#log.error({ err }, 'webhook deliveries: dispatching failed'))
      .finally(() => {
        this.#running = null;
        if (this.#again) {
          this.#again = false;
          this.wake();
        }
      });
  }

  async #dispatch(): Promise<void> {
    await this.#prune();
    for (;;) {
      const changes = this.#changes;
      const endpoints = (await listEndpoints(this.#db)).filter((e) => e.enabled);
      if (endpoints.length === 0) {
        // The timer's next look goes ahead; one made here meanwhile looks at once.
        if (changes === this.#changes) this.#noneUntil = performance.now() + LOOK_EVERY_MS - 10;
        return;
      }
      const places = new Map<string, LogPosition>();
      for (const ep of endpoints)
        places.set(ep.id, placeOf(await positionOf(this.#db, ep.dispatchedUpTo), ep));
      const from = [...places.values()].reduce((a, b) => (isAfter(a, b) ? b : a));
      const events = await readLog(this.#db, from, PAGE);
      if (events.length === 0) return;
      const last = events.at(-1)!;
      const upTo = { tx: last.tx, id: last.id };
      const now = Date.now();
      const made = await this.#db.transaction().execute(async (trx) => {
        // An event that committed before an endpoint was made (or enabled again) is not its own.
        const deliveries = events.flatMap((e) =>
          endpoints
            .filter((ep) => {
              const place = places.get(ep.id)!;
              return isAfter(e, place) && !before(place, e) && wants(ep, e);
            })
            .map((ep) => deliveryOf(ep, e, now)),
        );
        const ids = await insertDeliveries(trx, deliveries, now);
        await this.#jobs.enqueue(
          trx,
          ids.map((id) => deliveryJob(id, now)),
        );
        await markDispatched(
          trx,
          endpoints.map((e) => e.id),
          upTo,
          endpoints
            .filter((ep) => ep.dispatchSnapshot && !past(places.get(ep.id)!, last).startedAt)
            .map((ep) => ep.id),
        );
        return ids.length;
      });
      if (made > 0) this.#jobs.wake(WEBHOOK_QUEUE);
      if (events.length < PAGE) return;
    }
  }

  async #prune(): Promise<void> {
    const now = Date.now();
    if (this.#keepMs === null || now - this.#prunedAt < PRUNE_EVERY_MS) return;
    this.#prunedAt = now;
    const n = await pruneDeliveries(this.#db, now - this.#keepMs);
    if (n > 0) this.#log.info({ deleted: n }, 'webhook deliveries past their retention deleted');
  }
}

/** Whether the endpoint asked for the event. */
export const wants = (ep: Pick<WebhookEndpoint, 'events' | 'channels'>, e: StoredEvent) =>
  (ep.events.includes('*') || ep.events.includes(e.event)) &&
  (ep.channels === null || ep.channels.includes(e.channelId));

const deliveryOf = (ep: WebhookEndpoint, e: StoredEvent, now: number): NewDelivery => ({
  endpointId: ep.id,
  rule: null,
  url: null,
  eventId: e.id,
  event: e.event,
  channelId: e.channelId,
  conversationId: e.conversationId,
  webhookId: String(e.id),
  body: null,
  dedupKey: `endpoint|${ep.id}|${e.id}`,
  retryUntil: now + RETRY_FOR_MS,
});
