// The work hand-off between parts. A job belongs to a key (a conversation): jobs of one key run one
// at a time, in `orderAt` order (Meta's timestamp), however they were added; jobs of different keys
// run in parallel. A job whose process dies is run again; a failing job is retried with backoff and
// ends `dead` (kept, and shown by the API) after its last attempt.
//
// A dead job no longer holds its key back: the later jobs of its conversation run, and retry() runs
// it again after them. A job whose process died on its last attempt is dead too (it may be what
// killed the process).
//
// Jobs are added in the same transaction as the change that causes them (`enqueue`), so a job
// exists exactly when its cause does, whatever crashes. The embedded queue (embedded.ts) keeps jobs
// in the store; on a connection of its own (the projector's prepared statements) `enqueueOn` is the
// same port. A backend on PostgreSQL implements the same interface: the engine sees only `work` and
// the handler's outcome.

import type { Transaction } from 'kysely';
import type { Database } from '../store/schema.ts';

export type JobStatus = 'ready' | 'active' | 'done' | 'dead';

/** A retry's delay: 1 s, 2 s, 4 s ... up to 5 min, with ±25 % jitter so that retries do not arrive together. */
export const backoffMs = (attempt: number, random = Math.random) =>
  Math.round(Math.min(300_000, 1000 * 2 ** Math.max(0, attempt - 1)) * (0.75 + random() * 0.5));

export interface NewJob {
  queue: string;
  /** Ordering key: jobs of one key never run at the same time, and run oldest `orderAt` first. */
  key: string;
  orderAt: number;
  /** Adding a job whose dedupKey exists already does nothing. */
  dedupKey: string;
  payload: unknown;
}

export interface Job<P = unknown> {
  id: number;
  queue: string;
  key: string;
  orderAt: number;
  dedupKey: string;
  payload: P;
  /** This run included. */
  attempts: number;
}

export interface JobView {
  id: number;
  queue: string;
  key: string;
  orderAt: number;
  dedupKey: string;
  payload: unknown;
  status: JobStatus;
  attempts: number;
  runAt: number;
  error: string | null;
  result: unknown;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

/** Thrown by a handler: not a failure, the job is not ready yet; run it again after `ms`. Later jobs
 * of its key keep waiting behind it. */
export class RetryLater extends Error {
  readonly ms: number;
  constructor(ms: number, reason: string) {
    super(reason);
    this.name = 'RetryLater';
    this.ms = ms;
  }
}

/**
 * Does the job; its result is kept with the job. Throwing retries it (with backoff) or, after the
 * last attempt, makes it dead. `stopping` is aborted when the queue closes: a handler waiting on the
 * network (a download, a receiver) stops waiting, and its job runs again at the next start.
 */
export type JobHandler<P = unknown> = (job: Job<P>, stopping: AbortSignal) => Promise<unknown>;

/** Adding jobs: the side the changes that cause work use. */
export interface JobQueue {
  /** Adds jobs in a transaction of their own; the number that were new. */
  add(jobs: NewJob[]): Promise<number>;
  /**
   * Adds jobs inside the caller's transaction: they exist exactly when its change commits. Call
   * wake() once it has. On PostgreSQL the insert does not wait for its answer: if it fails, the
   * transaction's next statement (at the latest its commit) fails with its error.
   */
  enqueue(trx: Transaction<Database>, jobs: NewJob[]): Promise<void>;
  /**
   * New jobs may be ready (e.g. the projector added some), in `queues` (none: in any): call it after
   * the commit that added them, naming their queues. On PostgreSQL it is how the adding process
   * claims the jobs of the queues it works (those are not notified), or hands them over.
   */
  wake(...queues: string[]): void;
  /**
   * The ready jobs of `queue` (of `keys` only, if given) that wait for a later time are due now:
   * their handlers decide again (a hold was lifted, the clock moved). Those running, in any
   * process, are due at once if their run ends waiting (RetryLater) or failed (its backoff). Returns
   * how many were waiting.
   */
  runNow(queue: string, keys?: readonly string[]): Promise<number>;
}

/** Running jobs. */
export interface JobWorker {
  /** Starts running the queue's jobs with `handler`, up to `concurrency` at a time. */
  work<P>(queue: string, handler: JobHandler<P>, options?: { concurrency?: number }): void;
  /** Resolves when no handler is running (for tests and shutdown). */
  idle(): Promise<void>;
  /** Stops claiming; waits for running handlers. */
  close(): Promise<void>;
}

/** A queue's depth (GET /metrics). */
export interface QueueStats {
  queue: string;
  counts: Record<Exclude<JobStatus, 'done'>, number>;
  /** When its oldest job that is due now fell due (it waits for a slot, or behind its key); null: none. */
  oldestDueAt: number | null;
}

/** What the API shows and does with jobs. */
export interface JobAdmin {
  list(filter: {
    queue?: string;
    status?: JobStatus;
    key?: string;
    limit: number;
    before?: number;
  }): Promise<JobView[]>;
  get(id: number): Promise<JobView | null>;
  /** A dead job back to ready, attempts reset. False when there is no such dead job. */
  retry(id: number): Promise<boolean>;
  counts(): Promise<Record<JobStatus, number>>;
  stats(now: number): Promise<QueueStats[]>;
}

/** A queue backend: all three sides. */
export interface WorkQueue extends JobQueue, JobWorker, JobAdmin {}
