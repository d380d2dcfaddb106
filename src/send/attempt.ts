import type { Kysely } from 'kysely';
import { GraphClient, GraphError } from '../graph/client.ts';
import type { Limiter, Reservation, Taken } from '../graph/rate-limit.ts';
import type { Logger } from '../log.ts';
import type { GraphFailure } from '../meta/graph-errors.ts';
import type { SendBody } from '../meta/send.ts';
import { backoffMs } from '../queue/queue.ts';
import type { Channel } from '../store/channels.ts';
import type { Database, OutboxTable } from '../store/schema.ts';
import type { Health } from './channel-health.ts';
import { MAX_ATTEMPTS, type Outcomes } from './outcomes.ts';
import { windowRefusal } from './window.ts';

// One row, one attempt: the policy again (time has passed since it was queued), the rate limit,
// the claim, the Send API call once, and what its answer means. Failures follow their class: retry
// with backoff and jitter, throttle (wait as long as Meta says), reauthorise (the channel stops
// until it has a new token), pause (368), ambiguous (Meta may have it: its echo or Meta settles
// it, see reconcile.ts), or give up with the reason on the message.

/** A queued outbox row, as it is sent, with its customer's last message time if it was read with it. */
export type Row = Pick<
  OutboxTable,
  'id' | 'channelId' | 'messageId' | 'conversationId' | 'kind' | 'body' | 'human' | 'attempts' | 'createdAt'
> & {
  lastInboundAt?: number | null;
  /** As this process queued it, not read from the store (queued-here.ts). */
  remembered?: boolean;
};

/**
 * How an attempt ended: `settled` (sent or failed for good) or `waiting` (the row is back in the
 * outbox for later, waits for its echo, or was no longer queued: the sender looks at it again).
 */
export type Outcome = 'settled' | 'waiting';

/** A rate-limit wait up to this (the per-second windows) is slept through; a longer one is rescheduled. */
const MAX_INLINE_WAIT_MS = 1000;

export interface AttemptDeps {
  /** For the window. */
  db: Kysely<Database>;
  channels: () => readonly Channel[];
  limiter: Limiter;
  health: Health;
  outcomes: Outcomes;
  log: Logger;
  now: () => number;
  graphTimeoutMs?: number;
  /** The sender is stopping: a row waiting for the rate limit is left for the next start. */
  stopped: () => boolean;
}

export class Attempts {
  readonly #d: AttemptDeps;

  constructor(deps: AttemptDeps) {
    this.#d = deps;
  }

  async send(row: Row): Promise<Outcome> {
    const { limiter, health } = this.#d;
    const channel = this.#d.channels().find((c) => c.id === row.channelId);
    // Every outbox row's channel is stored (a foreign key): one not live was deleted.
    // Failed only if still queued: the row was read before, and an erasure may have settled it since.
    const queued = { from: 'queued' } as const;
    if (!channel)
      return this.#fail(
        row,
        { reason: 'channel_deleted', message: `Channel "${row.channelId}" was deleted` },
        queued,
      );
    const body = JSON.parse(row.body) as SendBody;
    const refusal = await windowRefusal(this.#d.db, row, body, this.#d.now(), row.lastInboundAt);
    // The customer may have written since it was remembered: the row is read again before a refusal.
    if (refusal) return row.remembered ? 'waiting' : this.#fail(row, refusal, queued);

    // Meta counts a call when it arrives, somewhere between leaving igdm and its answer. So the call
    // holds a place in the windows from before it leaves (with others in flight, none may overfill
    // a window) and is counted once its answer is back: counted on leaving, a call slow in transit
    // and a fast one sent a second later could land in one window at Meta's end (seen: 6 in 1 s
    // with a limit of 5).
    const account = channel.accountId ?? channel.id;
    const recipient = 'id' in body.recipient ? body.recipient.id : null;
    // In this process's memory (the embedded store) a place is taken synchronously; shared on
    // PostgreSQL (graph/shared-rate-limit.ts), in one round trip.
    const first = limiter.take(account, row.kind, recipient);
    let taken: Taken = first instanceof Promise ? await first : first;
    limiter.waiting(account, row.kind, taken.waitMs, taken.waitMs > MAX_INLINE_WAIT_MS);
    if (taken.waitMs > MAX_INLINE_WAIT_MS) {
      // Over a per-minute, per-hour or per-recipient cap: the row waits in the outbox, not the
      // sender (which would hold up every other customer and channel, and shutdown, meanwhile).
      await this.#d.outcomes.postpone(row, this.#d.now() + taken.waitMs);
      return 'waiting';
    }
    while (!taken.place) {
      if (this.#d.stopped()) return 'waiting';
      await new Promise((resolve) => setTimeout(resolve, taken.waitMs));
      const next = limiter.take(account, row.kind, recipient);
      taken = next instanceof Promise ? await next : next;
    }
    const place = taken.place;
    // Stopping, or another send of the channel met a hold meanwhile.
    if (this.#d.stopped() || !health.canSend(channel.id, this.#d.now())) {
      place.release();
      return 'waiting';
    }
    let claimed: boolean;
    try {
      claimed = await this.#d.outcomes.claim(row);
    } catch (err) {
      place.release();
      throw err;
    }
    if (!claimed) {
      place.release();
      return 'waiting'; // it was settled or rescheduled meanwhile
    }

    try {
      return await this.#call(row, channel, body, place);
    } catch (err) {
      // Not recorded (the store failed?): the send may have reached Meta, so its echo decides, as
      // after a crash. Left `sending`, the row would hold up its customer until the next start.
      await this.interrupted(row).catch(() => {});
      throw err;
    }
  }

  async #call(row: Row, channel: Channel, body: SendBody, place: Reservation): Promise<Outcome> {
    try {
      const client = new GraphClient(channel, { timeoutMs: this.#d.graphTimeoutMs });
      const sent = await client.sendMessage(body).finally(() => place.record());
      const health = this.#d.health.sent(channel.id);
      await this.#d.outcomes.sent(row, channel, body, sent.messageId ?? null, health);
      return 'settled';
    } catch (err) {
      if (!(err instanceof GraphError)) throw err;
      return this.#failed(row, channel, body, err.failure);
    }
  }

  async #failed(row: Row, channel: Channel, body: SendBody, f: GraphFailure): Promise<Outcome> {
    const now = this.#d.now();
    const attempts = row.attempts + 1;
    const { health } = this.#d;
    this.#d.log.warn(
      { channel: channel.id, outbox: row.id, action: f.action, code: f.code, reason: f.reason },
      'send failed',
    );
    switch (f.action) {
      // biome-ignore lint/suspicious/noFallthroughSwitchClause: a sender action is retried below
      case 'ambiguous':
        // Meta may have delivered a message: its echo, or Meta itself, settles it (reconcile.ts),
        // never a blind second send. A sender action has no echo and is harmless to repeat.
        if (body.message !== undefined) {
          this.#d.health.failed(channel.id, now);
          await this.interrupted(row, f);
          return 'waiting';
        }
      case 'retry':
        // The circuit breaker: once it opens, the channel's sends wait until it closes.
        health.failed(channel.id, now);
        if (attempts >= MAX_ATTEMPTS) return this.#fail(row, f);
        return this.#requeue(row, now + backoffMs(attempts), f);
      case 'throttle': {
        const wait = f.retryAfterMs ?? 60_000;
        const changed = health.throttled(channel.id, now + wait);
        // A throttled try does not count.
        return this.#requeue(row, now + wait, f, { attempts: row.attempts, health: changed });
      }
      case 'reauthorize': {
        const changed = health.needsToken(channel.id);
        return this.#requeue(row, now, f, { attempts: row.attempts, health: changed }); // waits for the new token
      }
      case 'pause': {
        const changed = health.paused(channel.id, now);
        return this.#fail(row, f, { health: changed });
      }
      default:
        return this.#fail(row, f);
    }
  }

  /**
   * Recorded as interrupted (see Outcomes.interrupted): true if it now waits for its echo, false if
   * it goes again (a sender action) or was no longer being sent.
   */
  async interrupted(row: Row, f?: GraphFailure): Promise<boolean> {
    return (await this.#d.outcomes.interrupted(row, f))?.unconfirmed ?? false;
  }

  /** Back in the queue until `at` (see Outcomes.requeue). */
  async #requeue(
    row: Row,
    at: number,
    f: GraphFailure,
    opts?: Parameters<Outcomes['requeue']>[3],
  ): Promise<Outcome> {
    await this.#d.outcomes.requeue(row, at, f, opts);
    return 'waiting';
  }

  /** Failed for good (see Outcomes.fail). */
  async #fail(
    row: Row,
    f: Parameters<Outcomes['fail']>[1],
    opts?: Parameters<Outcomes['fail']>[2],
  ): Promise<Outcome> {
    await this.#d.outcomes.fail(row, f, opts);
    return 'settled';
  }
}
