import type { Kysely } from 'kysely';
import { type Limiter, RateLimiter } from '../graph/rate-limit.ts';
import type { Logger } from '../log.ts';
import { type Job, type JobQueue, type JobWorker, RetryLater } from '../queue/queue.ts';
import type { Channel } from '../store/channels.ts';
import { findSend } from '../store/outbox.ts';
import type { Database } from '../store/schema.ts';
import { Attempts, type Outcome, type Row } from './attempt.ts';
import type { Health } from './channel-health.ts';
import { Outcomes } from './outcomes.ts';
import type { QueuedHere } from './queued-here.ts';
import { Reconciler } from './reconcile.ts';
import { laneOf, SEND_QUEUE, type SendJob } from './send-jobs.ts';

// The sender runs the send jobs (send-jobs.ts): the queue gives it each recipient's rows one at a
// time, in order, up to `concurrency` at once. A job looks at its outbox row and does what the
// row's state asks: a queued row due now is checked against the policy again, paced by the rate
// limit, sent to the Graph API once, and its answer acted on (attempt.ts) and recorded
// (outcomes.ts), with its channel's health (channel-health.ts); one due later, or whose channel is
// held, waits (the job runs again then, holding the recipient's later rows). A send whose outcome
// igdm cannot know waits for its echo, then for Meta's Conversations API to say whether it went
// (reconcile.ts). The job is done when the row is sent or failed.

export interface SenderDeps {
  db: Kysely<Database>;
  /** `db` without waiting for the disk, for recording sends that reached Meta (see OutcomeDeps). */
  relaxed?: Kysely<Database>;
  /** Where the send jobs are. */
  queue: JobQueue & Pick<JobWorker, 'work'>;
  channels: () => readonly Channel[];
  limiter: Limiter;
  log: Logger;
  now?: () => number;
  /** Each channel's health and holds, changed by the answers of its sends. */
  health: Health;
  graphTimeoutMs?: number;
  /** How long an interrupted send waits for its echo before Meta is asked about it. */
  echoGraceMs?: number;
  /** Rows sent at once (to different recipients). */
  concurrency?: number;
  /** Paces Conversations API calls (shared with the engine's story lookups). */
  conversationsApi: Limiter;
  /** The rows this process's engine queued a moment ago (queued-here.ts). */
  queuedHere?: QueuedHere;
}

// Calls in flight cover the Send API's answer time: at Meta's ~0.3 s and its 100 calls/s per
// account, about 30 (with 8, igdm itself capped the rate: see BENCHMARKS.md, e2e).
const DEFAULT_CONCURRENCY = 32;
const DEFAULT_ECHO_GRACE_MS = 20_000;
/** A held channel's sends look again at least this often (a restart or a wake looks at once). */
const NEEDS_TOKEN_LOOK_MS = 60_000;
/** Steps of one run (each reads the row again); a row that keeps changing is looked at later. */
const MAX_STEPS = 6;

export class Sender {
  readonly #d: SenderDeps;
  readonly #now: () => number;
  readonly #attempts: Attempts;
  readonly #reconciler: Reconciler;
  /** Rows waiting for their echo, and their lanes: an echo applied wakes their jobs. */
  readonly #awaitingEcho = new Map<string, string>();
  #stopped = false;

  constructor(deps: SenderDeps) {
    this.#d = deps;
    const now = deps.now ?? Date.now;
    this.#now = now;
    const echoGraceMs = deps.echoGraceMs ?? DEFAULT_ECHO_GRACE_MS;
    const stopped = () => this.#stopped;
    const outcomes = new Outcomes({ db: deps.db, relaxed: deps.relaxed, now, echoGraceMs });
    this.#reconciler = new Reconciler({ ...deps, outcomes, now, stopped });
    this.#attempts = new Attempts({ ...deps, outcomes, now, stopped });
  }

  /** Sends made again though Meta could not say whether the first went (for logs and metrics). */
  get resentUnconfirmed(): number {
    return this.#reconciler.resentUnconfirmed;
  }

  /** Starts running the send jobs; those waiting from an earlier process look again now. */
  async start(): Promise<void> {
    // The shared limiter (PostgreSQL) keeps its windows in the database: nothing to prime.
    if (this.#d.limiter instanceof RateLimiter) await this.#primeLimiter(this.#d.limiter, this.#now());
    this.#d.queue.work<SendJob>(SEND_QUEUE, (job) => this.#run(job), {
      concurrency: Math.max(1, this.#d.concurrency ?? DEFAULT_CONCURRENCY),
    });
    await this.#d.queue.runNow(SEND_QUEUE);
  }

  /**
   * The calls an earlier process made within the limiter's longest window count here too: Meta's
   * windows did not restart with igdm, and a quick restart with a backlog would overfill them (and
   * be throttled). A sent row counts at its sentAt; an interrupted one (sending, unconfirmed) at its
   * claim.
   */
  async #primeLimiter(limiter: RateLimiter, now: number): Promise<void> {
    const since = now - limiter.longestPeriodMs();
    const { db } = this.#d;
    const columns = ['channelId', 'kind', 'recipient'] as const;
    const sent = await db
      .selectFrom('outbox')
      .select([...columns, 'sentAt as at'])
      .where('sentAt', '>', since)
      .execute();
    const interrupted = await db
      .selectFrom('outbox')
      .select([...columns, 'updatedAt as at'])
      .where('status', 'in', ['sending', 'unconfirmed'])
      .where('updatedAt', '>', since)
      .execute();
    const accounts = new Map(this.#d.channels().map((c) => [c.id, c.accountId ?? c.id]));
    limiter.prime(
      [...sent, ...interrupted].map((r) => {
        const recipient = JSON.parse(r.recipient) as { id?: string };
        return {
          account: accounts.get(r.channelId) ?? r.channelId,
          kind: r.kind,
          recipient: recipient.id ?? null,
          at: Number(r.at),
        };
      }),
    );
  }

  /** Echoes were applied: the sends waiting for theirs look now. */
  echoesArrived(): void {
    if (this.#awaitingEcho.size === 0) return;
    this.#d.queue
      .runNow(SEND_QUEUE, [...new Set(this.#awaitingEcho.values())])
      .catch((err: unknown) => this.#d.log.error({ err }, 'could not wake the sends waiting for their echo'));
  }

  /** Every waiting send looks at its row again now (a hold was lifted, the clock moved). */
  wake(): void {
    this.#d.queue
      .runNow(SEND_QUEUE)
      .catch((err: unknown) => this.#d.log.error({ err }, 'could not wake the waiting sends'));
  }

  /** Sends waiting for the rate limit or for Meta stop waiting; the queue records where they are. */
  stop(): void {
    this.#stopped = true;
  }

  /** One run of a send job: done once its row is sent or failed; RetryLater while it must wait. */
  async #run(job: Job<SendJob>): Promise<unknown> {
    const { outboxId } = job.payload;
    this.#awaitingEcho.delete(outboxId);
    for (let step = 0; step < MAX_STEPS; step++) {
      if (this.#stopped) throw new RetryLater(0, 'igdm is stopping');
      const remembered = step === 0 ? this.#d.queuedHere?.take(outboxId) : undefined;
      if (remembered) {
        if ((await this.#queued(remembered, remembered.createdAt)) === 'settled')
          return { status: 'settled' };
        continue;
      }
      const row = await findSend(this.#d.db, outboxId);
      if (!row) return { status: 'missing' };
      switch (row.status) {
        case 'sent':
        case 'failed':
          return { status: row.status };
        case 'sending': {
          // Claimed by a run that did not finish (igdm stopped during the call): it may have
          // reached the customer. An echo or Meta decides; a sender action simply goes again.
          const left = await this.#attempts.interrupted(row);
          if (left) this.#d.log.info({ outbox: row.id }, 'interrupted send waits for its echo');
          continue;
        }
        case 'unconfirmed': {
          const wait = await this.#reconciler.settle({
            ...row,
            updatedAt: Number(row.updatedAt),
            attempts: Number(row.attempts),
            nextAttemptAt: Number(row.nextAttemptAt),
          });
          if (wait === null) continue;
          this.#awaitingEcho.set(row.id, laneOf(row));
          throw new RetryLater(wait, 'waiting for its echo');
        }
        case 'queued':
          if ((await this.#queued(row, Number(row.nextAttemptAt))) === 'settled')
            return { status: 'settled' };
          continue;
      }
    }
    throw new RetryLater(10, 'its row changed meanwhile');
  }

  /** A queued row: sent if it is due and its channel not held; RetryLater until then. */
  async #queued(row: Row, due: number): Promise<Outcome> {
    const now = this.#now();
    // A deleted channel's sends fail at once (Attempts.send), held or not.
    const live = this.#d.channels().some((c) => c.id === row.channelId);
    const held = live ? this.#d.health.holdMs(row.channelId, now) : 0;
    // A wake() meanwhile (a hold lifted, the clock moved) cuts these waits short: runNow()
    // marks a running job's row (queue/outcomes.ts), in whichever process it runs.
    if (held > 0)
      throw new RetryLater(Math.min(held, NEEDS_TOKEN_LOOK_MS), `channel ${row.channelId} is held`);
    if (live && due > now) throw new RetryLater(due - now, 'due later');
    return this.#attempts.send(row);
  }
}
