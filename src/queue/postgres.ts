import type { Kysely, Transaction } from 'kysely';
import type pg from 'pg';
import type { Logger } from '../log.ts';
import type { Database } from '../store/schema.ts';
import { StoredJobAdmin } from './job-admin.ts';
import type { OutcomePolicy } from './outcomes.ts';
import { doneRun, recordOutcomes } from './postgres-outcomes.ts';
import {
  claim,
  insertJobs,
  insertJobsLater,
  nextDue,
  notify,
  renew,
  settleAndClaim,
  takeBack,
} from './postgres-statements.ts';
import { WakeListener } from './postgres-wakes.ts';
import {
  backoffMs,
  type Job,
  type JobAdmin,
  type JobHandler,
  type JobStatus,
  type JobView,
  type NewJob,
  type QueueStats,
  type WorkQueue,
} from './queue.ts';
import {
  type Claimed,
  type Finished,
  freeSlots,
  JobRunner,
  type Wanted,
  type Woken,
  type Worker,
  wokenFor,
} from './runner.ts';

// The queue on PostgreSQL, for any number of processes on one database: the embedded queue's rules
// (queue.ts) on the store's `jobs` table, claimed with FOR UPDATE SKIP LOCKED and a per-key lock
// (postgres-statements.ts). Why not an existing engine: docs/queue-on-postgres.md.
//
// - A claimed job has a lease on the database's clock, renewed while it runs; a job whose lease ran
//   out (its process died) is taken back by any worker within a poll, and is dead if that was its
//   last attempt. An outcome is written only if the run is still the job's (its attempts match).
// - Wake-ups: a process that adds jobs NOTIFYs in the adding transaction; workers LISTEN
//   (postgres-wakes.ts), claim the next job of a key when one ends, and poll every `pollMs` for what
//   no notification says (a retry another process put off and then died, a lost connection).
// - Jobs a worker adds to a queue it works itself (the engine's sends, the deliveries it makes) are
//   its own to claim: they are not notified, and its own wake() after the commit claims them, with
//   the outcome of the job that added them when that job then ends (one round, one statement).
//   Every worker claiming on every notification cost each job one empty claim per other worker, and
//   hearing its own notification cost a round trip and a round. When this process cannot take them
//   all (its slots are full), it notifies the queue for everyone; if it dies first, the others'
//   polls find them.
// - As in the embedded queue, a round writes the outcomes of the jobs that ended and claims the
//   next, in one statement when they all succeeded and the last claims did not fail (#round);
//   runner.ts runs the handlers and the rounds, this class is the round's statements, the leases,
//   the wake-ups and the timers.

/** What a round wrote: the runs no longer theirs, what it asked to claim, and what it claimed. */
interface RoundWrites {
  lost: number[];
  wanted: Wanted[];
  found: Map<string, Job[]>;
  /** The claims failed (they are tried again in a second; the outcomes are written). */
  claimFailed: boolean;
}

export interface PostgresQueueOptions {
  maxAttempts?: number;
  /** How long a claimed job is its process's without a renewal; renewed every third of it. */
  leaseMs?: number;
  /** How often a worker looks at the table with no wake-up (and takes back jobs of dead processes). */
  pollMs?: number;
  /** The delay before retrying a job that failed its `attempt`th attempt (default backoffMs). */
  backoffMs?: (attempt: number) => number;
  /** Done jobs finished longer ago than this are deleted (at most hourly); off by default. */
  keepDoneMs?: number;
  /** Where to LISTEN for wake-ups (DATABASE_URL); without it, workers only poll. */
  listen?: string | pg.ClientConfig;
  now?: () => number;
  log?: Logger;
}

export class PostgresQueue implements WorkQueue {
  readonly #db: Kysely<Database>;
  readonly #admin: StoredJobAdmin;
  readonly #runner: JobRunner;
  readonly #maxAttempts: number;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #outcomes: OutcomePolicy;
  readonly #listen: string | pg.ClientConfig | undefined;
  readonly #now: () => number;
  readonly #log: Logger | undefined;
  /** When the next delayed job is due as far as this process knows (null: read it). */
  #nextDueAt: number | null = null;
  #dueTimer: NodeJS.Timeout | null = null;
  #ticker: NodeJS.Timeout | null = null;
  #ticking = false;
  #renewedAt = 0;
  #polledAt = 0;
  #listener: WakeListener | null = null;
  /** The last round of one statement (outcomes and claims) failed: the next writes them apart. */
  #roundFailed = false;
  /** Queues this process added jobs to since the last round (wake()). */
  #ownWoken = new Set<string>();

  constructor(db: Kysely<Database>, options: PostgresQueueOptions = {}) {
    this.#db = db;
    this.#maxAttempts = options.maxAttempts ?? 8;
    this.#leaseMs = options.leaseMs ?? 10_000;
    this.#pollMs = options.pollMs ?? 1000;
    this.#listen = options.listen;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    this.#admin = new StoredJobAdmin(db, this.#now);
    this.#outcomes = {
      maxAttempts: this.#maxAttempts,
      backoffMs: options.backoffMs ?? backoffMs,
      delayed: (runAt) => this.#delayed(runAt),
      log: this.#log,
    };
    this.#runner = new JobRunner({
      round: (ended, claiming, now, woken) => this.#round(ended, claiming, now, woken),
      // The jobs this process runs are held by their attempt: the run's fence.
      holdOf: (job) => job.attempts,
      scheduleNext: (claimedAt) => this.#scheduleNext(claimedAt),
      retryIn: (ms) => this.#scheduleDue(ms),
      prune: (finishedBefore) => this.#admin.prune(finishedBefore),
      keepDoneMs: options.keepDoneMs ?? null,
      now: this.#now,
      log: this.#log,
    });
  }

  async add(jobs: NewJob[]): Promise<number> {
    if (jobs.length === 0) return 0;
    const added = await this.#db
      .transaction()
      .execute((trx) => insertJobs(trx, jobs, this.#now(), this.#mine()));
    for (const queue of new Set(jobs.map((j) => j.queue))) this.wake(queue);
    return added;
  }

  /**
   * Adds jobs inside the caller's transaction, without waiting for the insert's answer (queue.ts);
   * the other processes are woken when it commits, this one by the caller's wake() after it.
   */
  async enqueue(trx: Transaction<Database>, jobs: NewJob[]): Promise<void> {
    await insertJobsLater(trx, jobs, this.#now(), this.#mine());
  }

  /**
   * The queues whose new jobs this process claims itself, not notified: those it works, while it
   * listens (it hears the others' notifications) and is not closing.
   */
  #mine(): string[] {
    return this.#listener?.listening && !this.#runner.closed ? [...this.#runner.queues()] : [];
  }

  work<P>(queue: string, handler: JobHandler<P>, options: { concurrency?: number } = {}): void {
    this.#runner.work(queue, handler as JobHandler, options.concurrency);
    const closed = this.#runner.closed;
    if (this.#listen !== undefined && !this.#listener && !closed) {
      this.#listener = new WakeListener({
        connection: this.#listen,
        log: this.#log,
        onWake: (payload) => {
          if (payload === null) {
            this.#nextDueAt = null;
            return this.#runner.wake();
          }
          // `queue|origin`: jobs an earlier igdm added for itself (the adding process claims them).
          if (payload.includes('|')) return;
          this.#runner.wake(payload);
        },
      });
    }
    if (!this.#ticker && !closed) {
      this.#polledAt = Date.now(); // this wake claims: the first poll is one period away
      this.#ticker = setInterval(() => void this.#tick(), Math.min(this.#pollMs, this.#leaseMs / 3));
      this.#ticker.unref();
    }
    this.#runner.wake();
  }

  /**
   * The ready jobs of `queue` (of `keys`) waiting for a later time are due now, and claimed; those
   * running, in whichever process, end with no wait, should they end asking for one
   * (StoredJobAdmin.runNow).
   */
  async runNow(queue: string, keys?: readonly string[]): Promise<number> {
    const n = await this.#admin.runNow(queue, keys);
    this.#nextDueAt = null;
    if (n > 0) {
      await notify(this.#db, [queue]); // the other processes', and this one's while it listens
      if (!this.#listener?.listening) this.#runner.wake(queue);
    }
    return n;
  }

  /**
   * This process added jobs (in `queues`, or anywhere), committed now. Those of the queues it works
   * were not notified (#mine): this wake claims them, and when it names their queue, notifies them
   * for everyone if it cannot take them all (#round's spill); callers name it. It waits for the
   * event loop's turn, so that a job that adds jobs and then ends makes one round: its outcome and
   * the claim of what it added. (The queue's own
   * wake-ups, for notifications, polls and timers, go to the runner directly.)
   */
  wake(...queues: string[]): void {
    if (this.#runner.closed) {
      // Added for this process as it closed (after close() told the others): theirs now.
      const worked = [...this.#runner.queues()].filter((q) => queues.length === 0 || queues.includes(q));
      void notify(this.#db, worked).catch((err: unknown) =>
        this.#log?.error({ err }, 'queue: could not wake the other processes'),
      );
      return;
    }
    // A wake that names no queue claims in every queue, but hands nothing over to the others: it
    // does not say where jobs were added, and every full queue would be notified.
    for (const queue of queues) if (this.#runner.works(queue)) this.#ownWoken.add(queue);
    this.#runner.wakeSoon(...queues);
  }

  /** Renews this process's leases, takes back the jobs of dead processes, and polls. */
  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      const at = Date.now();
      if (this.#runner.mine.size > 0 && at - this.#renewedAt >= this.#leaseMs / 3) {
        this.#renewedAt = at;
        const mine = [...this.#runner.mine];
        const kept = new Set(await renew(this.#db, mine, this.#leaseMs));
        const lost = mine.filter(([id]) => !kept.has(id)).map(([id]) => id);
        // Only if this process stalled past its lease: another may run the job now.
        if (lost.length > 0)
          this.#log?.warn({ jobs: lost }, 'queue: jobs taken back after their lease ran out');
      }
      // Closing: leases are still renewed until the handlers end.
      if (!this.#runner.closed && at - this.#polledAt >= this.#pollMs) {
        this.#polledAt = at;
        const back = await takeBack(this.#db, this.#maxAttempts, this.#now());
        if (back.dead.length > 0)
          this.#log?.error({ jobs: back.dead }, 'queue: jobs interrupted on their last attempt are dead');
        this.#nextDueAt = null; // read again: other processes put jobs off too
        this.#runner.wake();
      }
    } catch (err) {
      this.#log?.error({ err }, 'queue: renewing leases or polling failed');
    } finally {
      this.#ticking = false;
    }
  }

  /**
   * Writes the outcomes of the jobs that ended and claims the next. A queue is claimed when it was
   * woken, or when a job that ended there may have freed the next of its key. When every job
   * succeeded (the common round) both are one statement (settleAndClaim), written all or none: a
   * round that fails is written again. Otherwise, or while the last claims failed (#roundFailed), the
   * outcomes are one transaction (a failed job's row may meanwhile be another run's under the same
   * attempt count), then the claims one statement. Either way the claimed jobs are committed as
   * active at once.
   */
  async #round(ended: Finished[], claiming: Worker[], now: number, woken: Woken): Promise<Claimed | null> {
    const own = this.#ownWoken;
    this.#ownWoken = new Set();
    try {
      return await this.#roundOf(ended, claiming, now, woken, own);
    } catch (err) {
      // Written again at the next round (the runner keeps the outcomes), with what it was woken for.
      for (const q of own) this.#ownWoken.add(q);
      throw err;
    }
  }

  async #roundOf(
    ended: Finished[],
    claiming: Worker[],
    now: number,
    woken: Woken,
    own: Set<string>,
  ): Promise<Claimed | null> {
    const due: Woken =
      this.#nextDueAt !== null && this.#nextDueAt <= now ? { all: true, queues: woken.queues } : woken;
    const claimDue = claiming.length > 0 && (due.all || due.queues.size > 0 || ended.length > 0);
    if (ended.length === 0 && !claimDue) return null;
    const endedIn = new Set(ended.map((f) => f.job.queue));
    const candidates = claiming.filter((w) => wokenFor(due, w) || endedIn.has(w.queue));
    // Jobs added here for itself that it cannot all take now: for every worker (they may be more).
    const spill = new Set(
      candidates.filter((w) => own.has(w.queue) && freeSlots(w, ended) <= 0).map((w) => w.queue),
    );
    // After a round of one statement failed, the next writes its outcomes on their own first: an
    // error in the claims would otherwise keep every outcome from being written.
    const together = ended.every((f) => f.outcome.ok) && !this.#roundFailed;
    let writes: RoundWrites;
    try {
      writes = together
        ? await this.#settleAndClaim(ended, candidates, due, now)
        : await this.#outcomesThenClaim(ended, candidates, due, now);
    } catch (err) {
      if (together) this.#roundFailed = true;
      throw err;
    }
    const { lost, wanted, found, claimFailed } = writes;
    if (!together) this.#roundFailed = claimFailed;
    if (lost.length > 0)
      this.#log?.warn({ jobs: lost }, 'queue: outcomes not recorded: the jobs were taken back meanwhile');
    // Stopping: the next jobs of these keys are for the other processes now.
    if (this.#runner.closed && ended.length > 0)
      await notify(this.#db, endedIn).catch((err: unknown) =>
        this.#log?.error({ err }, 'queue: could not wake the other processes'),
      );
    for (const { queue, limit } of wanted)
      if (own.has(queue) && (found.get(queue)?.length ?? 0) === limit) spill.add(queue);
    if (spill.size > 0)
      await notify(this.#db, spill).catch((err: unknown) =>
        this.#log?.error({ err }, 'queue: could not wake the other processes'),
      );
    return this.#runner.claimed(wanted, found);
  }

  /** Every job that ended succeeded: their outcomes and the claims in one statement. */
  async #settleAndClaim(
    ended: Finished[],
    candidates: Worker[],
    due: Woken,
    now: number,
  ): Promise<RoundWrites> {
    const wanted = this.#runner.wanted(candidates, ended, true);
    if (ended.length === 0 && wanted.length === 0)
      return { lost: [], wanted, found: new Map(), claimFailed: false };
    const { kept, claimed } = await settleAndClaim(this.#db, {
      done: ended.map(doneRun),
      // A queue only its ended jobs name is claimed if the next of one of their keys waits.
      wanted: wanted.map(({ w, queue, limit }) => ({ queue, limit, ifWaiting: !wokenFor(due, w) })),
      now,
      leaseMs: this.#leaseMs,
    });
    const lost = ended.filter((f) => !kept.has(f.job.id)).map((f) => f.job.id);
    return { lost, wanted, found: claimed, claimFailed: false };
  }

  /**
   * Some job failed (or the last round of one statement did): the outcomes in one transaction, then
   * the claims. A claim that fails is tried again in a second (it committed nothing; the outcomes
   * are written).
   */
  async #outcomesThenClaim(
    ended: Finished[],
    candidates: Worker[],
    due: Woken,
    now: number,
  ): Promise<RoundWrites> {
    const { lost, freed } = await this.#db
      .transaction()
      .execute((trx) => recordOutcomes(trx, ended, now, this.#outcomes));
    const wanted = this.#runner.wanted(
      candidates.filter((w) => wokenFor(due, w) || freed.has(w.queue)),
      ended,
      true,
    );
    let found = new Map<string, Job[]>();
    let claimFailed = false;
    if (wanted.length > 0)
      try {
        found = await claim(this.#db, { wanted, now, leaseMs: this.#leaseMs });
      } catch (err) {
        claimFailed = true;
        this.#log?.error({ err }, 'queue: claiming jobs failed; trying again in 1 s');
        this.#scheduleDue(1000);
      }
    return { lost, wanted, found, claimFailed };
  }

  #delayed(runAt: number) {
    if (this.#nextDueAt !== null) this.#nextDueAt = Math.min(this.#nextDueAt, runAt);
  }

  /**
   * Sleeps until the next delayed job is due (a job due by `claimedAt` and not claimed waits behind
   * its key: the end of the job before it wakes the queue). Polling covers the rest.
   */
  async #scheduleNext(claimedAt: number) {
    if (this.#nextDueAt !== null && this.#nextDueAt <= claimedAt) this.#nextDueAt = null;
    this.#nextDueAt ??=
      (await nextDue(this.#db, [...this.#runner.queues()], claimedAt)) ?? Number.POSITIVE_INFINITY;
    if (Number.isFinite(this.#nextDueAt)) this.#scheduleDue(Math.max(this.#nextDueAt - this.#now(), 10));
  }

  #scheduleDue(ms: number) {
    if (this.#runner.closed) return;
    if (this.#dueTimer) clearTimeout(this.#dueTimer);
    this.#dueTimer = setTimeout(
      () => {
        this.#dueTimer = null;
        this.#nextDueAt = null;
        this.#runner.wake();
      },
      Math.min(ms, 60_000),
    );
    this.#dueTimer.unref();
  }

  list(filter: Parameters<JobAdmin['list']>[0]): Promise<JobView[]> {
    return this.#admin.list(filter);
  }

  get(id: number): Promise<JobView | null> {
    return this.#admin.get(id);
  }

  async retry(id: number): Promise<boolean> {
    const retried = await this.#admin.retry(id);
    if (retried) {
      const job = await this.#admin.get(id);
      if (job) await notify(this.#db, [job.queue]);
    }
    this.#runner.wake();
    return retried;
  }

  counts(): Promise<Record<JobStatus, number>> {
    return this.#admin.counts();
  }

  stats(now: number): Promise<QueueStats[]> {
    return this.#admin.stats(now);
  }

  /** Deletes the done jobs finished before `finishedBefore` (dead ones stay); returns how many. */
  prune(finishedBefore: number): Promise<number> {
    return this.#admin.prune(finishedBefore);
  }

  idle(): Promise<void> {
    return this.#runner.idle();
  }

  /** Stops claiming; waits for the running handlers and writes their outcomes. */
  async close(): Promise<void> {
    this.#runner.stop();
    if (this.#dueTimer) clearTimeout(this.#dueTimer);
    this.#dueTimer = null;
    // Jobs added here for this process and not claimed yet are the others' now.
    if (this.#listener?.listening)
      await notify(this.#db, [...this.#runner.queues()]).catch((err: unknown) =>
        this.#log?.error({ err }, 'queue: could not wake the other processes'),
      );
    await this.#listener?.close();
    await this.#runner.drain();
    if (this.#ticker) clearInterval(this.#ticker);
    this.#ticker = null;
  }
}
