import type { Kysely, Transaction } from 'kysely';
import type { Logger } from '../log.ts';
import type { Database } from '../store/schema.ts';
import { StoredJobAdmin } from './job-admin.ts';
import { ACTIVE, insertJobs, jobOf, q, UNFINISHED } from './job-statements.ts';
import { failure, type Outcome, type OutcomePolicy, putOff, resultOf } from './outcomes.ts';
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
import { type Claimed, type Finished, JobRunner, type Woken, type Worker } from './runner.ts';

// The embedded queue: jobs are rows of the store's `jobs` table, claimed in-process. There is no
// polling loop: it looks at the table when woken (a job was added) and when the next delayed job is
// due. A job is claimable only when it is the oldest unfinished job of its key and no job of its
// key is active, so one key's jobs run one at a time in order_at order, never relying on retries.
// A handler's outcome is written in the same transaction as the next claim: one durable commit per
// round instead of two per job. The handlers and the rounds are run by runner.ts; this is the
// rounds' transaction, the timer and the leases. Its statements are in job-statements.ts, its admin
// side in job-admin.ts.

export interface EmbeddedQueueOptions {
  maxAttempts?: number;
  /** An active job whose lease ran out belongs to a process that died; this process renews the
   * leases of the jobs it runs, however long they take. */
  leaseMs?: number;
  /** The delay before retrying a job that failed its `attempt`th attempt (default backoffMs). */
  backoffMs?: (attempt: number) => number;
  /** Done jobs finished longer ago than this are deleted (at most hourly, while the queue works).
   * Off by default (the service sets it from IGDM_JOB_RETENTION_DAYS): a job's dedup key keeps a
   * second job for the same key out only while the job is kept. Engine jobs need it only briefly:
   * the event log's own dedup key stops a redelivered event before it makes a job. */
  keepDoneMs?: number;
  now?: () => number;
  log?: Logger;
}

export class EmbeddedQueue implements WorkQueue {
  readonly #db: Kysely<Database>;
  readonly #admin: StoredJobAdmin;
  readonly #runner: JobRunner;
  readonly #maxAttempts: number;
  readonly #leaseMs: number;
  readonly #outcomes: OutcomePolicy;
  readonly #now: () => number;
  readonly #log: Logger | undefined;
  /**
   * When the next delayed job (a retry, a RetryLater) is due, as far as this process knows: read
   * from the store when unknown (at the first round, and after the timer fired), else kept up to
   * date by the delays this process records (the only other source of delayed jobs).
   */
  #nextDueAt: number | null = null;
  #timer: NodeJS.Timeout | null = null;
  #recovered: Promise<void> | null = null;

  constructor(db: Kysely<Database>, options: EmbeddedQueueOptions = {}) {
    this.#db = db;
    this.#maxAttempts = options.maxAttempts ?? 8;
    this.#leaseMs = options.leaseMs ?? 5 * 60_000;
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
      beforeClaim: () => this.#recoverAtStart(),
      // The jobs this process runs are held until their leases run out (renewed, never recovered).
      holdOf: (_job, claimedAt) => claimedAt + this.#leaseMs,
      // A round with something to do clears the timer; it sets it again once done (scheduleNext).
      roundStarts: () => this.#clearTimer(),
      scheduleNext: (claimedAt) => this.#scheduleNext(claimedAt),
      retryIn: (ms) => this.#schedule(ms),
      prune: (finishedBefore) => this.#admin.prune(finishedBefore),
      keepDoneMs: options.keepDoneMs ?? null,
      now: this.#now,
      log: this.#log,
    });
  }

  async add(jobs: NewJob[]): Promise<number> {
    if (jobs.length === 0) return 0;
    // All or nothing.
    const added = await this.#db.transaction().execute((trx) => insertJobs(trx, jobs, this.#now()));
    this.wake();
    return added;
  }

  async enqueue(trx: Transaction<Database>, jobs: NewJob[]): Promise<void> {
    await insertJobs(trx, jobs, this.#now());
  }

  work<P>(queue: string, handler: JobHandler<P>, options: { concurrency?: number } = {}): void {
    this.#runner.work(queue, handler as JobHandler, options.concurrency);
    this.wake();
  }

  /**
   * The ready jobs of `queue` (of `keys`) waiting for a later time are due now, and claimed; those
   * running end with no wait, should they end asking for one (StoredJobAdmin.runNow).
   */
  async runNow(queue: string, keys?: readonly string[]): Promise<number> {
    const n = await this.#admin.runNow(queue, keys);
    this.#nextDueAt = null; // what is due next is read again
    this.wake();
    return n;
  }

  /** Jobs were added, retried or fell due (in `queue`, or in any): claim at the next round. */
  wake(...queues: string[]): void {
    this.#runner.wake(...queues);
  }

  /**
   * At the first round that claims, every active job is from an earlier process (this one has
   * claimed none). A queue that only adds jobs (no worker) leaves the running ones alone.
   */
  #recoverAtStart(): Promise<void> {
    this.#recovered ??= this.#takeBack(this.#now(), { expiredOnly: false, except: [] }).catch((err) => {
      this.#recovered = null; // tried again at the next round
      throw err;
    });
    return this.#recovered;
  }

  /** Renews the leases of the jobs this process runs, then takes back those whose lease ran out. */
  async #recover(): Promise<void> {
    const now = this.#now();
    const held = this.#runner.mine;
    const mine = [...held.keys()];
    if (mine.length > 0) {
      const renewed = await this.#db
        .updateTable('jobs')
        .set({ lockedUntil: now + this.#leaseMs })
        .where('id', 'in', mine)
        .where('status', '=', ACTIVE)
        .where('lockedUntil', '<=', now)
        .returning('id')
        .execute();
      for (const r of renewed) if (held.has(Number(r.id))) held.set(Number(r.id), now + this.#leaseMs);
      // A handler that long holds its conversation back (every later job of its key waits).
      if (renewed.length > 0)
        this.#log?.warn(
          { jobs: renewed.map((r) => r.id), leaseMs: this.#leaseMs },
          'queue: jobs running longer than their lease',
        );
    }
    await this.#takeBack(now, { expiredOnly: true, except: mine });
  }

  /**
   * Jobs left active by a process that died run again (their attempt counted). One that was on its
   * last attempt is dead instead: it may be what killed the process, and running it at every start
   * would crash igdm again and again.
   */
  async #takeBack(now: number, scope: { expiredOnly: boolean; except: number[] }): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      let q = trx
        .selectFrom('jobs')
        .select(['id', 'attempts'])
        .where('status', 'in', UNFINISHED)
        .where('status', '=', ACTIVE);
      if (scope.expiredOnly)
        q = q.where((eb) => eb.or([eb('lockedUntil', 'is', null), eb('lockedUntil', '<', now)]));
      if (scope.except.length > 0) q = q.where('id', 'not in', scope.except);
      const rows = await q.execute();
      const last = rows.filter((r) => r.attempts >= this.#maxAttempts).map((r) => r.id);
      const again = rows.filter((r) => r.attempts < this.#maxAttempts).map((r) => r.id);
      if (last.length > 0) {
        this.#log?.error({ jobs: last }, 'queue: jobs interrupted on their last attempt are dead');
        await trx
          .updateTable('jobs')
          .set({
            status: 'dead',
            error: 'interrupted on its last attempt: the process running it stopped',
            runAgain: 0,
            lockedUntil: null,
            updatedAt: now,
            finishedAt: now,
          })
          .where('id', 'in', last)
          .execute();
      }
      if (again.length > 0) {
        await trx
          .updateTable('jobs')
          .set({ status: 'ready', runAt: now, runAgain: 0, lockedUntil: null, updatedAt: now })
          .where('id', 'in', again)
          .execute();
      }
    });
  }

  /**
   * Writes the outcomes of the jobs that ended and claims the jobs that may run now, in one
   * transaction (one durable commit for both).
   */
  #round(ended: Finished[], claiming: Worker[], now: number, woken: Woken): Promise<Claimed> {
    // A delayed job that fell due (or none known yet) may be claimable too: its timer may never
    // fire, as this round cleared it.
    const claimDue = woken.all || woken.queues.size > 0 || this.#nextDueAt === null || this.#nextDueAt <= now;
    return this.#db.transaction().execute(async (trx) => {
      for (const f of ended) await this.#record(trx, f.job, f.outcome, now);
      if (!claimDue && !(await this.#nextOfKeyWaits(trx, ended))) return [];
      const wanted = this.#runner.wanted(claiming, ended, claimDue);
      const found = new Map<string, Job[]>();
      for (const { queue, limit } of wanted) found.set(queue, await this.#claim(trx, queue, limit, now));
      return this.#runner.claimed(wanted, found);
    });
  }

  /** Some job that finished has another unfinished job of its key (which may be claimable now). */
  async #nextOfKeyWaits(trx: Transaction<Database>, ended: Finished[]): Promise<boolean> {
    for (const { job } of ended) {
      if (await q.otherOfKey.first(trx, { queue: job.queue, key: job.key, id: job.id })) return true;
    }
    return false;
  }

  /** Up to `limit` jobs of `queue` that may run now, marked active. */
  async #claim(trx: Transaction<Database>, queue: string, limit: number, now: number): Promise<Job[]> {
    const rows = await q.claimable.all(trx, { queue, now, limit });
    for (const r of rows) await q.markActive.run(trx, { id: r.id, lockedUntil: now + this.#leaseMs, now });
    return rows.map((r) => ({ ...jobOf(r), attempts: r.attempts + 1 }));
  }

  /** Done, retried later, or dead (outcomes.ts). */
  async #record(trx: Transaction<Database>, job: Job, outcome: Outcome, now: number) {
    if (outcome.ok) {
      await q.markDone.run(trx, { id: job.id, result: resultOf(outcome.result), now });
      return;
    }
    const row = await trx
      .updateTable('jobs')
      .set(failure(job, outcome.err, now, this.#outcomes))
      .where('id', '=', job.id)
      .returning(['status', 'runAt'])
      .executeTakeFirst();
    putOff(row, this.#outcomes);
  }

  /** A job of this process's was put off until `runAt`. */
  #delayed(runAt: number) {
    if (this.#nextDueAt !== null) this.#nextDueAt = Math.min(this.#nextDueAt, runAt);
  }

  /** Sleeps until the next delayed job (a retry, a RetryLater) is due, or a lease runs out. A job
   * that was due at `claimedAt` and not claimed is blocked behind an earlier job of its key: running
   * (its end wakes the queue) or delayed (counted here), so only later times matter and nothing
   * spins. Counting from the claim's time, not from now, keeps a job that fell due meanwhile (the
   * round took longer than its delay) from being missed. */
  async #scheduleNext(claimedAt: number) {
    // What was due by the claim is claimed, or waits behind its key: read what is due next.
    if (this.#nextDueAt !== null && this.#nextDueAt <= claimedAt) this.#nextDueAt = null;
    if (this.#nextDueAt === null) {
      let at = Number.POSITIVE_INFINITY;
      for (const queue of this.#runner.queues()) {
        const due = (await q.nextDue.first(this.#db, { queue, after: claimedAt }))?.at;
        if (due != null) at = Math.min(at, Number(due));
      }
      this.#nextDueAt = at;
    }
    // Leases: only this process's jobs are active (the first round took back any others).
    const at = Math.min(this.#nextDueAt, ...this.#runner.mine.values());
    if (Number.isFinite(at)) this.#schedule(Math.max(at - this.#now(), 10));
  }

  #schedule(ms: number) {
    if (this.#runner.closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(
      async () => {
        this.#timer = null;
        this.#nextDueAt = null; // what was due is claimed now: read when the next is
        await this.#recover().catch((err) => this.#log?.error({ err }, 'queue: recovering leases failed'));
        this.wake();
      },
      Math.min(ms, 60_000),
    );
    this.#timer.unref();
  }

  #clearTimer() {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  list(filter: Parameters<JobAdmin['list']>[0]): Promise<JobView[]> {
    return this.#admin.list(filter);
  }

  get(id: number): Promise<JobView | null> {
    return this.#admin.get(id);
  }

  async retry(id: number): Promise<boolean> {
    const retried = await this.#admin.retry(id);
    this.wake();
    return retried;
  }

  stats(now: number): Promise<QueueStats[]> {
    return this.#admin.stats(now);
  }

  counts(): Promise<Record<JobStatus, number>> {
    return this.#admin.counts();
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
    this.#clearTimer();
    await this.#runner.drain();
  }
}
