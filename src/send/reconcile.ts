import type { Kysely } from 'kysely';
import { GraphClient, GraphError } from '../graph/client.ts';
import type { Limiter } from '../graph/rate-limit.ts';
import type { Logger } from '../log.ts';
import type { GraphFailure } from '../meta/graph-errors.ts';
import type { SendBody } from '../meta/send.ts';
import { backoffMs } from '../queue/queue.ts';
import type { Channel } from '../store/channels.ts';
import type { Database } from '../store/schema.ts';
import { type Found, findSent } from './ask-meta.ts';
import { MAX_ATTEMPTS, type Outcomes } from './outcomes.ts';
import {
  ECHO_LOOKBACK_MS,
  knownMids,
  requeueUnconfirmed,
  settleByEcho,
  settleSent,
  type Unconfirmed,
} from './unconfirmed.ts';

// Sends whose outcome igdm cannot know: interrupted by a crash, or whose answer was lost. The Send
// API has no idempotency key: such a send may have reached the customer (Meta accepted it, igdm
// never read the answer) or not. Sending it again could show the reply twice, so it waits as
// `unconfirmed` for Meta's echo, which comes for every message sent. An echo igdm cannot place (its
// mid is no outbox row's) is kept by the projector as a message of its own; one that matches the row
// settles it as sent (unconfirmed.ts). No echo within the grace period: Meta's Conversations API is
// asked (ask-meta.ts); if Meta does not have it either, it goes back in the queue. The rows behind
// an unconfirmed one wait meanwhile (its job waits: send-jobs.ts).

/** Questions about one interrupted send, when Meta fails to answer (transient, throttled). */
const ASK_TRIES = 3;
const MAX_ASK_WAIT_MS = 30_000;
/** While an unconfirmed row waits for its echo, it looks for it at least this often (an echo applied
 * while its job was running is not announced again). */
const ECHO_LOOK_MS = 1000;

export interface ReconcileDeps {
  db: Kysely<Database>;
  outcomes: Pick<Outcomes, 'fail'>;
  channels: () => readonly Channel[];
  /** Paces Conversations API calls (shared with the engine's story lookups). */
  conversationsApi: Limiter;
  graphTimeoutMs?: number;
  log: Logger;
  now: () => number;
  /** The sender is stopping: no more questions. */
  stopped: () => boolean;
}

export class Reconciler {
  readonly #d: ReconcileDeps;
  /** Sends made again though Meta could not say whether the first went (for logs and metrics). */
  resentUnconfirmed = 0;

  constructor(deps: ReconcileDeps) {
    this.#d = deps;
  }

  /**
   * Settles an unconfirmed row by its echo, if the store has it; within its grace period, returns
   * how long to wait for it; after, asks Meta and acts on the answer. Null once the row has moved on
   * (sent, queued again, failed); 0 when the sender stopped while asking (the row stays unconfirmed
   * until the next start).
   */
  async settle(row: Unconfirmed & { nextAttemptAt: number }): Promise<number | null> {
    const { db, log } = this.#d;
    const settled = await settleByEcho(db, row, this.#d.now());
    if (settled !== null) {
      if (settled) log.info({ outbox: row.id }, 'interrupted send settled by its echo');
      return null;
    }
    const now = this.#d.now();
    if (now < row.nextAttemptAt) return Math.min(row.nextAttemptAt - now, ECHO_LOOK_MS);
    const answer = await this.#askAbout(row);
    if (answer === null) return 0;
    await this.#settleAsked(row, answer);
    return null;
  }

  /**
   * What Meta said of an unconfirmed row: found (sent after all); not there (sent again, or failed
   * after MAX_ATTEMPTS tries); or it could not say: sent again all the same, as a reply shown twice
   * is better than one lost, and the message records it (possibleDuplicate).
   */
  async #settleAsked(row: Unconfirmed, answer: Found | 'absent' | 'unknown'): Promise<void> {
    const now = this.#d.now();
    const { db, log } = this.#d;
    if (typeof answer === 'object') {
      if (await settleSent(db, row, answer.mid, answer.at, now))
        log.info({ outbox: row.id }, 'unconfirmed send found at Meta: recorded as sent');
    } else if (await settleByEcho(db, row, now)) {
      // Its echo came while Meta was asked (and so its mid was known, and passed over).
      log.info({ outbox: row.id }, 'unconfirmed send settled by its echo');
    } else if (answer === 'absent' && row.attempts >= MAX_ATTEMPTS) {
      const last = row.error ? (JSON.parse(row.error) as GraphFailure) : null;
      await this.#d.outcomes.fail(
        row,
        {
          reason: last?.reason ?? 'not_delivered',
          message: `${last?.message ?? 'Not delivered'}; Meta does not have it after ${row.attempts} attempts`,
        },
        { from: 'unconfirmed' },
      );
    } else if (await requeueUnconfirmed(db, row, now, { unknown: answer === 'unknown' })) {
      if (answer === 'absent') log.info({ outbox: row.id }, 'unconfirmed send not at Meta: sent again');
      else {
        this.resentUnconfirmed++;
        log.warn(
          { outbox: row.id, message: row.messageId, resentUnconfirmed: this.resentUnconfirmed },
          'Meta could not say whether a send went: sent again, and marked as a possible duplicate',
        );
      }
    }
  }

  /**
   * The send as Meta has it; 'absent' when Meta does not have it; 'unknown' when Meta cannot tell
   * (a transient failure or a throttle is asked again, ASK_TRIES in all); null when the sender
   * stopped meanwhile. A private reply to a comment names no customer to look up.
   */
  async #askAbout(row: Unconfirmed): Promise<Found | 'absent' | 'unknown' | null> {
    const message = (JSON.parse(row.body) as SendBody).message;
    const recipient = JSON.parse(row.recipient) as { id?: string };
    const channel = this.#d.channels().find((c) => c.id === row.channelId);
    if (!message || !recipient.id || !channel) return 'unknown';
    const account = channel.accountId ?? channel.id;
    const client = new GraphClient(channel, { timeoutMs: this.#d.graphTimeoutMs });
    const sought = {
      igsid: recipient.id,
      text: typeof message.text === 'string' ? message.text : null,
      since: row.updatedAt - ECHO_LOOKBACK_MS,
    };
    for (let tried = 1; ; tried++) {
      if (this.#d.stopped()) return null;
      try {
        const found = await findSent(client, sought, {
          paced: (call) => this.#d.conversationsApi.run(account, call),
          known: (mids) => knownMids(this.#d.db, row.channelId, mids),
        });
        return found ?? 'absent';
      } catch (err) {
        const failure = err instanceof GraphError ? err.failure : null;
        // Reads: one without an answer is simply asked again.
        const again = failure && ['retry', 'throttle', 'ambiguous'].includes(failure.action);
        if (again && tried < ASK_TRIES) {
          const ms = Math.min(failure.retryAfterMs ?? backoffMs(tried), MAX_ASK_WAIT_MS);
          await new Promise((resolve) => setTimeout(resolve, ms));
          continue;
        }
        if (this.#d.stopped()) return null;
        this.#d.log.warn(
          { outbox: row.id, reason: failure?.reason ?? (err as Error).message },
          'could not ask Meta whether an unconfirmed send went',
        );
        return 'unknown';
      }
    }
  }
}
