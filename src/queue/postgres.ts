import type { Kysely, Transaction } from 'kysely';
import type pg from 'pg';
import type { Logger } from '../log.ts';
import type { Database } from '../store/schema.ts';
import { insertJobs } from './job-statements.ts';
import { PostgresJobAdmin } from './postgres-admin.ts';
import { type Ended, type Outcome, recordOutcomes } from './postgres-outcomes.ts';
import { claim, nextDue, notify, renew, takeBack } from './postgres-statements.ts';
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
// - As in the embedded queue, a round writes the outcomes of the jobs that ended and claims the
//   next in one transaction.

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

interface Worker {
  queue: string;
  handler: JobHandler;
  concurrency: number;
  running: number;
}

interface Finished extends Ended {
  w: Worker;
  recorded: () => void;
}

const PRUNE_EVERY_MS = 3_600_000;

export class PostgresQueue implements WorkQueue {
  readonly #db: Kysely<Database>;
  readonly #admin: PostgresJobAdmin;
  readonly #maxAttempts: number;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #backoffMs: (attempt: number) => number;
  readonly #keepDoneMs: number | null;
  readonly #listen: string | pg.ClientConfig | undefined;
  readonly #now: () => number;
  readonly #log: Logger | undefined;
  readonly #workers = new Map<string, Worker>();
  readonly #running = new Set<Promise<void>>();
  /** The jobs this process runs: id → the attempt it runs (the run's fence). */
  readonly #mine = new Map<number, number>();
  /** When the next delayed job is due as far as this process knows (null: read it). */
  #nextDueAt: number | null = null;
  #finished: Finished[] = [];
  #claimDue = true;
  #pumping: Promise<void> | null = null;
  #again = false;
  #wakeScheduled = false;
  #dueTimer: NodeJS.Timeout | null = null;
  #ticker: NodeJS.Timeout | null = null;
  #ticking = false;
  #renewedAt = 0;
  #polledAt = 0;
  #prunedAt = 0;
  #listener: WakeListener | null = null;
  #closed = false;

  constructor(db: Kysely<Database>, options: PostgresQueueOptions = {}) {
    this.#db = db;
    this.#maxAttempts = options.maxAttempts ?? 8;
    this.#leaseMs = options.leaseMs ?? 10_000;
    this.#pollMs = options.pollMs ?? 1000;
    this.#backoffMs = options.backoffMs ?? backoffMs;
    this.#keepDoneMs = options.keepDoneMs ?? null;
    this.#listen = options.listen;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    this.#admin = new PostgresJobAdmin(db, this.#now);
  }

  async add(jobs: NewJob[]): Promise<number> {
    if (jobs.length === 0) return 0;
    const added = await this.#db.transaction().execute((trx) => this.enqueue(trx, jobs));
    this.wake();
    return added;
  }

  /** Adds jobs inside the caller's transaction; the other processes are woken when it commits. */
  async enqueue(trx: Transaction<Database>, jobs: NewJob[]): Promise<number> {
    const added = await insertJobs(trx, jobs, this.#now());
    if (added > 0)
      await notify(
        trx,
        jobs.map((j) => j.queue),
      );
    return added;
  }

  work<P>(queue: string, handler: JobHandler<P>, options: { concurrency?: number } = {}): void {
    this.#workers.set(queue, {
      queue,
      handler: handler as JobHandler,
      concurrency: Math.max(1, options.concurrency ?? 8),
      running: 0,
    });
    if (this.#listen !== undefined && !this.#listener && !this.#closed) {
      this.#listener = new WakeListener({
        connection: this.#listen,
        log: this.#log,
        onWake: (q) => {
          if (q === null) this.#nextDueAt = null;
          if (q === null || this.#workers.has(q)) this.wake();
        },
      });
    }
    if (!this.#ticker && !this.#closed) {
      this.#polledAt = Date.now(); // this wake claims: the first poll is one period away
      this.#ticker = setInterval(() => void this.#tick(), Math.min(this.#pollMs, this.#leaseMs / 3));
      this.#ticker.unref();
    }
    this.wake();
  }

  async runNow(queue: string, keys?: readonly string[]): Promise<number> {
    const n = await this.#admin.runNow(queue, keys);
    if (n > 0) await notify(this.#db, [queue]);
    this.#nextDueAt = null;
    this.wake();
    return n;
  }

  wake(): void {
    this.#claimDue = true;
    this.#kick();
  }

  #kick(): void {
    if (this.#closed && this.#finished.length === 0) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = this.#pump()
      .catch((err) => {
        this.#log?.error({ err }, 'queue: claiming jobs failed; trying again in 1 s');
        this.#scheduleDue(1000);
      })
      .finally(() => {
        this.#pumping = null;
        if (this.#again) {
          this.#again = false;
          this.#kick();
        }
      });
  }

  /** Wakes the queue once the event loop has run what is ready: jobs ending together share a round. */
  #wakeSoon(): void {
    if (this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    setImmediate(() => {
      this.#wakeScheduled = false;
      this.#kick();
    });
  }

  /** Renews this process's leases, takes back the jobs of dead processes, and polls. */
  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      const at = Date.now();
      if (this.#mine.size > 0 && at - this.#renewedAt >= this.#leaseMs / 3) {
        this.#renewedAt = at;
        const mine = [...this.#mine];
        const kept = new Set(await renew(this.#db, mine, this.#leaseMs));
        const lost = mine.filter(([id]) => !kept.has(id)).map(([id]) => id);
        // Only if this process stalled past its lease: another may run the job now.
        if (lost.length > 0)
          this.#log?.warn({ jobs: lost }, 'queue: jobs taken back after their lease ran out');
      }
      // Closing: leases are still renewed until the handlers end.
      if (!this.#closed && at - this.#polledAt >= this.#pollMs) {
        this.#polledAt = at;
        const back = await takeBack(this.#db, this.#maxAttempts, this.#now());
        if (back.dead.length > 0)
          this.#log?.error({ jobs: back.dead }, 'queue: jobs interrupted on their last attempt are dead');
        this.#nextDueAt = null; // read again: other processes put jobs off too
        this.wake();
      }
    } catch (err) {
      this.#log?.error({ err }, 'queue: renewing leases or polling failed');
    } finally {
      this.#ticking = false;
    }
  }

  async #pump(): Promise<void> {
    const claiming = this.#closed ? [] : [...this.#workers.values()];
    const batch = this.#finished;
    this.#finished = [];
    const now = this.#now();
    const claimDue =
      claiming.length > 0 &&
      (this.#claimDue || batch.length > 0 || (this.#nextDueAt !== null && this.#nextDueAt <= now));
    this.#claimDue = false;
    if (batch.length === 0 && !claimDue) return;
    let claimed: [Worker, Job[]][];
    let lost: number[];
    try {
      [claimed, lost] = await this.#db.transaction().execute(async (trx) => {
        const lost = await recordOutcomes(trx, batch, now, {
          maxAttempts: this.#maxAttempts,
          backoffMs: this.#backoffMs,
          delayed: (runAt) => this.#delayed(runAt),
          log: this.#log,
        });
        const out: [Worker, Job[]][] = [];
        for (const w of claimDue ? claiming : []) {
          const free = w.concurrency - w.running + batch.filter((f) => f.w === w).length;
          if (free <= 0) {
            this.#claimDue = true; // claimed once a slot frees up
            continue;
          }
          const jobs = await claim(trx, { queue: w.queue, limit: free, now, leaseMs: this.#leaseMs });
          if (jobs.length === free) this.#claimDue = true; // more may be waiting for a slot
          out.push([w, jobs]);
        }
        // Stopping: the next jobs of these keys are for the other processes now.
        if (this.#closed && batch.length > 0)
          await notify(
            trx,
            batch.map((f) => f.job.queue),
          );
        return [out, lost] as const;
      });
    } catch (err) {
      this.#claimDue = true;
      if (this.#closed) {
        // Their leases run out and other processes run them again.
        this.#log?.error({ err, jobs: batch.map((f) => f.job.id) }, 'queue: could not record job outcomes');
        for (const f of batch) this.#release(f);
      } else {
        this.#finished = [...batch, ...this.#finished];
      }
      throw err;
    }
    if (lost.length > 0)
      this.#log?.warn({ jobs: lost }, 'queue: outcomes not recorded: the jobs were taken back meanwhile');
    for (const f of batch) this.#release(f);
    for (const [w, jobs] of claimed) for (const job of jobs) this.#start(w, job);
    if (this.#closed) return;
    await this.#prune();
    await this.#scheduleNext(now);
  }

  #release(f: Finished) {
    f.w.running--;
    this.#mine.delete(f.job.id);
    f.recorded();
  }

  #start(w: Worker, job: Job) {
    w.running++;
    this.#mine.set(job.id, job.attempts);
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
      (await nextDue(this.#db, [...this.#workers.keys()], claimedAt)) ?? Number.POSITIVE_INFINITY;
    if (Number.isFinite(this.#nextDueAt)) this.#scheduleDue(Math.max(this.#nextDueAt - this.#now(), 10));
  }

  #scheduleDue(ms: number) {
    if (this.#closed) return;
    if (this.#dueTimer) clearTimeout(this.#dueTimer);
    this.#dueTimer = setTimeout(
      () => {
        this.#dueTimer = null;
        this.#nextDueAt = null;
        this.wake();
      },
      Math.min(ms, 60_000),
    );
    this.#dueTimer.unref();
  }

  async #prune(): Promise<void> {
    if (this.#keepDoneMs === null) return;
    const now = this.#now();
    if (now - this.#prunedAt < PRUNE_EVERY_MS) return;
    this.#prunedAt = now;
    const n = await this.#admin.prune(now - this.#keepDoneMs);
    if (n > 0) this.#log?.info({ jobs: n }, 'queue: deleted old done jobs');
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
    this.wake();
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
    if (this.#dueTimer) clearTimeout(this.#dueTimer);
    this.#dueTimer = null;
    await this.#listener?.close();
    this.wake();
    await this.#pumping;
    await Promise.all([...this.#running]);
    if (this.#ticker) clearInterval(this.#ticker);
    this.#ticker = null;
  }
}
