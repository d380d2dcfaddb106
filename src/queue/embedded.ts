import type { Kysely, Transaction } from 'kysely';
import type { Logger } from '../log.ts';
import type { Database } from '../store/schema.ts';
import { EmbeddedJobAdmin } from './job-admin.ts';
import { ACTIVE, insertJobs, jobOf, q, UNFINISHED } from './job-statements.ts';
import {
  backoffMs,
  type Job,
  type JobAdmin,
  type JobHandler,
  type JobStatus,
  type JobView,
  type NewJob,
  type QueueStats,
  RetryLater,
  type WorkQueue,
} from './queue.ts';

// The embedded queue: jobs are rows of the store's `jobs` table, claimed in-process. (One class of
// ~490 lines on purpose: the rounds, the leases and the outcome writes share the in-memory state of
// the jobs this process runs; its statements and its admin side are apart.) There is no
// polling loop: it looks at the table when woken (a job was added) and when the next delayed job is
// due. A job is claimable only when it is the oldest unfinished job of its key and no job of its
// key is active, so one key's jobs run one at a time in order_at order, never relying on retries.
// A handler's outcome is written in the same transaction as the next claim: one durable commit per
// round instead of two per job. Its statements are in job-statements.ts, its admin side in
// job-admin.ts.

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

interface Worker {
  queue: string;
  handler: JobHandler;
  concurrency: number;
  /** Jobs claimed whose outcome is not recorded yet. */
  running: number;
}

type Outcome = { ok: true; result: unknown } | { ok: false; err: unknown };

/** A handler's outcome waiting to be written, with the next claim, in one transaction. */
interface Finished {
  w: Worker;
  job: Job;
  outcome: Outcome;
  recorded: () => void;
}

/** Done jobs past their retention are deleted at most this often. */
const PRUNE_EVERY_MS = 3_600_000;

export class EmbeddedQueue implements WorkQueue {
  readonly #db: Kysely<Database>;
  readonly #admin: EmbeddedJobAdmin;
  readonly #maxAttempts: number;
  readonly #leaseMs: number;
  readonly #backoffMs: (attempt: number) => number;
  readonly #keepDoneMs: number | null;
  readonly #now: () => number;
  readonly #log: Logger | undefined;
  readonly #workers = new Map<string, Worker>();
  /** One promise per claimed job: it settles once the job's outcome is written (or given up). */
  readonly #running = new Set<Promise<void>>();
  /** The jobs this process is running, and when their leases run out (renewed, never recovered). */
  readonly #mine = new Map<number, number>();
  /**
   * When the next delayed job (a retry, a RetryLater) is due, as far as this process knows: read
   * from the store when unknown (at the first round, and after the timer fired), else kept up to
   * date by the delays this process records (the only other source of delayed jobs).
   */
  #nextDueAt: number | null = null;
  #finished: Finished[] = [];
  #prunedAt = 0;
  #pumping: Promise<void> | null = null;
  #again = false;
  #wakeScheduled = false;
  /**
   * A claim may find jobs: some were added (or fell due) since the last, or the last claim took as
   * many as it could. Otherwise only the end of a job can make one claimable: the next of its key.
   */
  #claimDue = true;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #recovered: Promise<void> | null = null;

  constructor(db: Kysely<Database>, options: EmbeddedQueueOptions = {}) {
    this.#db = db;
    this.#maxAttempts = options.maxAttempts ?? 8;
    this.#leaseMs = options.leaseMs ?? 5 * 60_000;
    this.#backoffMs = options.backoffMs ?? backoffMs;
    this.#keepDoneMs = options.keepDoneMs ?? null;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    this.#admin = new EmbeddedJobAdmin(db, this.#now);
  }

  async add(jobs: NewJob[]): Promise<number> {
    if (jobs.length === 0) return 0;
    // All or nothing.
    const added = await this.#db.transaction().execute((trx) => this.enqueue(trx, jobs));
    this.wake();
    return added;
  }

  enqueue(trx: Transaction<Database>, jobs: NewJob[]): Promise<number> {
    return insertJobs(trx, jobs, this.#now());
  }

  work<P>(queue: string, handler: JobHandler<P>, options: { concurrency?: number } = {}): void {
    this.#workers.set(queue, {
      queue,
      handler: handler as JobHandler,
      concurrency: Math.max(1, options.concurrency ?? 8),
      running: 0,
    });
    this.wake();
  }

  async runNow(queue: string, keys?: readonly string[]): Promise<number> {
    const n = await this.#admin.runNow(queue, keys);
    this.#nextDueAt = null; // what is due next is read again
    this.wake();
    return n;
  }

  /** Jobs were added, retried or fell due: claim at the next round. */
  wake(): void {
    this.#claimDue = true;
    this.#kick();
  }

  /** Runs a round now (or once the one under way is done). */
  #kick(): void {
    // Once closed, only the outcomes of the jobs still running are written.
    if (this.#closed && this.#finished.length === 0) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#pumping = this.#pump()
      .catch((err) => {
        this.#log?.error({ err }, 'queue: claiming jobs failed; trying again in 1 s');
        this.#schedule(1000);
      })
      .finally(() => {
        this.#pumping = null;
        if (this.#again) {
          this.#again = false;
          this.#kick();
        }
      });
  }

  /**
   * Wakes the queue once the event loop has run what is ready: the jobs that finish meanwhile are
   * recorded in one round (one commit, one claim) rather than a round each.
   */
  #wakeSoon(): void {
    if (this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    setImmediate(() => {
      this.#wakeScheduled = false;
      this.#kick();
    });
  }

  /** Renews the leases of the jobs this process runs, then takes back those whose lease ran out. */
  async #recover(): Promise<void> {
    const now = this.#now();
    const mine = [...this.#mine.keys()];
    if (mine.length > 0) {
      const renewed = await this.#db
        .updateTable('jobs')
        .set({ lockedUntil: now + this.#leaseMs })
        .where('id', 'in', mine)
        .where('status', '=', ACTIVE)
        .where('lockedUntil', '<=', now)
        .returning('id')
        .execute();
      for (const r of renewed)
        if (this.#mine.has(Number(r.id))) this.#mine.set(Number(r.id), now + this.#leaseMs);
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
          .set({ status: 'ready', runAt: now, lockedUntil: null, updatedAt: now })
          .where('id', 'in', again)
          .execute();
      }
    });
  }

  /**
   * Writes the outcomes of the jobs that finished and claims the jobs that may run now, in one
   * transaction (one durable commit for both), then starts them.
   */
  async #pump(): Promise<void> {
    const claiming = this.#closed ? [] : [...this.#workers.values()];
    if (claiming.length > 0) {
      // At the first pump, every active job is from an earlier process (this one has claimed none).
      // A queue that only adds jobs (no worker) leaves the running ones alone.
      this.#recovered ??= this.#takeBack(this.#now(), { expiredOnly: false, except: [] }).catch((err) => {
        this.#recovered = null; // tried again at the next pump
        throw err;
      });
      await this.#recovered;
    }
    const batch = this.#finished;
    this.#finished = [];
    if (batch.length === 0 && claiming.length === 0) return;
    // One time for the round: what was not due for the claim is what the timer waits for.
    const now = this.#now();
    // A delayed job that fell due (or none known yet) may be claimable too: its timer may never
    // fire, as every round clears it.
    const claimDue = this.#claimDue || this.#nextDueAt === null || this.#nextDueAt <= now;
    this.#claimDue = false;
    let claimed: [Worker, Job[]][];
    try {
      claimed = await this.#db.transaction().execute(async (trx) => {
        for (const f of batch) await this.#record(trx, f.job, f.outcome, now);
        const out: [Worker, Job[]][] = [];
        if (!claimDue && !(await this.#nextOfKeyWaits(trx, batch))) return out;
        for (const w of claiming) {
          const free = w.concurrency - w.running + batch.filter((f) => f.w === w).length;
          if (free <= 0) {
            // Its jobs that were due still are: claim them once a slot is free.
            if (claimDue) this.#claimDue = true;
            continue;
          }
          const jobs = await this.#claim(trx, w.queue, free, now);
          if (jobs.length === free) this.#claimDue = true; // more may be waiting for a free slot
          out.push([w, jobs]);
        }
        return out;
      });
    } catch (err) {
      this.#claimDue = true;
      if (this.#closed) {
        // Shutting down: the jobs stay active in the store and run again at the next start.
        this.#log?.error({ err, jobs: batch.map((f) => f.job.id) }, 'queue: could not record job outcomes');
        for (const f of batch) this.#release(f);
      } else {
        this.#finished = [...batch, ...this.#finished];
      }
      throw err;
    }
    for (const f of batch) this.#release(f);
    for (const [w, jobs] of claimed) for (const job of jobs) this.#start(w, job, now + this.#leaseMs);
    if (this.#closed) return;
    await this.#prune();
    await this.#scheduleNext(now);
  }

  #release(f: Finished) {
    f.w.running--;
    this.#mine.delete(f.job.id);
    f.recorded();
  }

  #start(w: Worker, job: Job, lockedUntil: number) {
    w.running++;
    this.#mine.set(job.id, lockedUntil);
    const run = (async () => {
      let outcome: Outcome;
      try {
        outcome = { ok: true, result: await w.handler(job) };
      } catch (err) {
        outcome = { ok: false, err };
      }
      await new Promise<void>((recorded) => {
        this.#finished.push({ w, job, outcome, recorded });
        this.#wakeSoon();
      });
    })();
    this.#running.add(run);
    run.finally(() => this.#running.delete(run));
  }

  /** Some job that finished has another unfinished job of its key (which may be claimable now). */
  async #nextOfKeyWaits(trx: Transaction<Database>, batch: Finished[]): Promise<boolean> {
    for (const { job } of batch) {
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

  /** Done, retried later, or dead. */
  async #record(trx: Transaction<Database>, job: Job, outcome: Outcome, now: number) {
    if (outcome.ok) {
      const result = outcome.result === undefined ? null : JSON.stringify(outcome.result);
      await q.markDone.run(trx, { id: job.id, result, now });
      return;
    }
    const { err } = outcome;
    if (err instanceof RetryLater) {
      // Not a failure: the attempt is given back.
      const runAt = now + Math.max(10, err.ms);
      this.#delayed(runAt);
      await trx
        .updateTable('jobs')
        .set((eb) => ({
          status: 'ready',
          // Never sooner than 10 ms: a handler that keeps answering "later" must not spin.
          runAt,
          attempts: eb('attempts', '-', 1),
          lockedUntil: null,
          error: err.message,
          updatedAt: now,
        }))
        .where('id', '=', job.id)
        .execute();
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    const dead = job.attempts >= this.#maxAttempts;
    // Drawn once (it is jittered): the timer must wake for the time the row holds.
    const runAt = dead ? now : now + this.#backoffMs(job.attempts);
    if (!dead) this.#delayed(runAt);
    this.#log?.warn(
      { job: job.id, queue: job.queue, attempts: job.attempts, err: message },
      dead ? 'job failed for the last time: dead' : 'job failed; will retry',
    );
    await trx
      .updateTable('jobs')
      .set({
        status: dead ? 'dead' : 'ready',
        runAt,
        lockedUntil: null,
        error: message.slice(0, 2000),
        updatedAt: now,
        finishedAt: dead ? now : null,
      })
      .where('id', '=', job.id)
      .execute();
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
    if (this.#closed || this.#workers.size === 0) return;
    // What was due by the claim is claimed, or waits behind its key: read what is due next.
    if (this.#nextDueAt !== null && this.#nextDueAt <= claimedAt) this.#nextDueAt = null;
    if (this.#nextDueAt === null) {
      let at = Number.POSITIVE_INFINITY;
      for (const queue of this.#workers.keys()) {
        const due = (await q.nextDue.first(this.#db, { queue, after: claimedAt }))?.at;
        if (due != null) at = Math.min(at, Number(due));
      }
      this.#nextDueAt = at;
    }
    // Leases: only this process's jobs are active (the first round took back any others).
    const at = Math.min(this.#nextDueAt, ...this.#mine.values());
    if (Number.isFinite(at)) this.#schedule(Math.max(at - this.#now(), 10));
  }

  /** Deletes done jobs older than keepDoneMs, at most hourly. */
  async #prune(): Promise<void> {
    if (this.#keepDoneMs === null) return;
    const now = this.#now();
    if (now - this.#prunedAt < PRUNE_EVERY_MS) return;
    this.#prunedAt = now;
    const n = await this.#admin.prune(now - this.#keepDoneMs);
    if (n > 0) this.#log?.info({ jobs: n }, 'queue: deleted old done jobs');
  }

  #schedule(ms: number) {
    if (this.#closed) return;
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

  async idle(): Promise<void> {
    for (;;) {
      await this.#pumping;
      if (this.#running.size === 0 && !this.#pumping) return;
      await Promise.all([...this.#running]);
    }
  }

  /** Stops claiming; waits for the running handlers and writes their outcomes. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.wake(); // outcomes waiting for a retry of their write are written now (or given up)
    await this.#pumping;
    await Promise.all([...this.#running]);
  }
}
