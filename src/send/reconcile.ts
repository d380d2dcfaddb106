import type { Kysely } from 'kysely';
import { GraphClient, GraphError } from '../graph/client.ts';
import type { RateLimiter } from '../graph/rate-limit.ts';
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
  markInterrupted,
  requeueUnconfirmed,
  settleByEcho,
  settleSent,
  settleUnconfirmed,
  type Unconfirmed,
} from './unconfirmed.ts';

// Sends whose outcome igdm cannot know: interrupted by a crash, or whose answer was lost. The Send
// API has no idempotency key: such a send may have reached the customer (Meta accepted it, igdm
// never read the answer) or not. Sending it again could show the reply twice, so it waits as
// `unconfirmed` for Meta's echo, which comes for every message sent. An echo igdm cannot place (its
// mid is no outbox row's) is kept by the projector as a message of its own; one that matches the row
// settles it as sent (unconfirmed.ts). No echo within the grace period: Meta's Conversations API is
// asked (ask-meta.ts); if Meta does not have it either, it goes back in the queue. The rows behind
// an unconfirmed one wait meanwhile.

/** Questions about one interrupted send, when Meta fails to answer (transient, throttled). */
const ASK_TRIES = 3;
const MAX_ASK_WAIT_MS = 30_000;

export interface ReconcileDeps {
  db: Kysely<Database>;
  outcomes: Pick<Outcomes, 'fail'>;
  channels: () => readonly Channel[];
  /** Paces Conversations API calls (shared with the engine's story lookups). */
  conversationsApi: RateLimiter;
  graphTimeoutMs?: number;
  log: Logger;
  now: () => number;
  /** How long an interrupted send waits for its echo before Meta is asked about it. */
  echoGraceMs: number;
  /** The sender is stopping: no more questions. */
  stopped: () => boolean;
  /** Look at the unconfirmed rows again at this time. */
  wakeAt: (at: number) => void;
  /** Meta was asked about a row and it was settled: its lane may go on. */
  settled: () => void;
}

export class Reconciler {
  readonly #d: ReconcileDeps;
  /** Unconfirmed rows waiting for their echo, and when the first gives up. */
  #unconfirmed = 0;
  #due = Number.POSITIVE_INFINITY;
  /** Echoes were applied (or may be in the store): the unconfirmed rows are looked at again. */
  #echoes = false;
  /** Overdue unconfirmed rows Meta is asked about, one at a time (their ids: `#asking`). */
  #toAsk: Unconfirmed[] = [];
  readonly #asking = new Set<string>();
  #askingDone: Promise<void> | null = null;
  /** Sends made again though Meta could not say whether the first went (for logs and metrics). */
  resentUnconfirmed = 0;

  constructor(deps: ReconcileDeps) {
    this.#d = deps;
  }

  /**
   * Rows left `sending` by a crash may have reached the customer: they wait for their echo as
   * `unconfirmed` and keep the rows behind them waiting too.
   */
  async start(now: number): Promise<void> {
    this.#unconfirmed = await markInterrupted(this.#d.db, now, this.#d.echoGraceMs);
    if (this.#unconfirmed > 0) {
      this.#d.log.info({ unconfirmed: this.#unconfirmed }, 'interrupted sends wait for their echo');
      this.#echoes = true; // the echo may already be in the store
    }
  }

  /** Echoes were applied: true if an unconfirmed row may be settled now. */
  echoesArrived(): boolean {
    if (this.#unconfirmed === 0) return false;
    this.#echoes = true;
    return true;
  }

  /** A send was just left unconfirmed, to wait for its echo until `due`. */
  waiting(due: number): void {
    this.#unconfirmed++;
    this.#due = Math.min(this.#due, due);
    this.#echoes = true; // its echo may be in the store already (Meta echoes before it answers)
  }

  /** Whether settle() has work: echoes arrived, or an unconfirmed row's grace is over. */
  get due(): boolean {
    return this.#unconfirmed > 0 && (this.#echoes || this.#d.now() >= this.#due);
  }

  /**
   * Settles the rows whose echo is in the store, and starts asking Meta about those past their
   * grace. True if rows were settled (their lanes may go on).
   */
  async settle(): Promise<boolean> {
    this.#echoes = false;
    const r = await settleUnconfirmed(this.#d.db, this.#d.now(), this.#asking);
    this.#unconfirmed = r.waiting;
    this.#due = r.nextAt ?? Number.POSITIVE_INFINITY;
    if (r.nextAt !== null) this.#d.wakeAt(r.nextAt);
    if (r.sent) this.#d.log.info({ sent: r.sent }, 'interrupted sends settled by their echo');
    if (r.overdue.length > 0) {
      for (const row of r.overdue) this.#asking.add(row.id);
      this.#toAsk.push(...r.overdue);
      this.#askingDone ??= this.#askMeta().finally(() => {
        this.#askingDone = null;
      });
    }
    return r.sent > 0;
  }

  /** Resolves when the question in flight is answered (the rest stay unconfirmed until the next start). */
  async idle(): Promise<void> {
    await this.#askingDone;
  }

  /**
   * Asks Meta about the overdue rows, one at a time: sent after all (its echo is late), or queued to
   * go again. Their lanes wait meanwhile; others do not.
   */
  async #askMeta(): Promise<void> {
    for (let row = this.#toAsk.shift(); row && !this.#d.stopped(); row = this.#toAsk.shift()) {
      const answer = await this.#askAbout(row);
      if (this.#d.stopped()) break;
      await this.#settleAsked(row, answer);
      this.#asking.delete(row.id);
      this.#echoes = true; // the count of unconfirmed rows is read again
      this.#d.settled();
    }
    for (const row of this.#toAsk.splice(0)) this.#asking.delete(row.id);
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
   * (a transient failure or a throttle is asked again, ASK_TRIES in all). A private reply to a
   * comment names no customer to look up.
   */
  async #askAbout(row: Unconfirmed): Promise<Found | 'absent' | 'unknown'> {
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
        this.#d.log.warn(
          { outbox: row.id, reason: failure?.reason ?? (err as Error).message },
          'could not ask Meta whether an unconfirmed send went',
        );
        return 'unknown';
      }
    }
  }
}
