import { sql, type UpdateObject } from 'kysely';
import type { Logger } from '../log.ts';
import type { Database } from '../store/schema.ts';
import { type Job, RetryLater } from './queue.ts';

// What a handler's end makes of its job, whichever the backend: done with its result, put off
// (RetryLater: the attempt is given back), retried after a backoff, or dead after its last attempt.
// Each backend writes it its own way: embedded.ts one job at a time with its prepared statements,
// postgres-outcomes.ts fenced on the run and the done ones in one statement.

export type Outcome = { ok: true; result: unknown } | { ok: false; err: unknown };

/** A job whose handler ended, with how. */
export interface Ended {
  job: Job;
  outcome: Outcome;
}

export interface OutcomePolicy {
  maxAttempts: number;
  /** The delay before retrying a job that failed its `attempt`th attempt. */
  backoffMs: (attempt: number) => number;
  /** A job was put off until `runAt` (the backend's timer may have to wake sooner). */
  delayed: (runAt: number) => void;
  /** runNow() was asked for the job while it ran: a wait it ends with is cut short. */
  runNowAsked?: (job: Job) => boolean;
  log?: Logger;
}

/** A done job's result as the row keeps it. */
export const resultOf = (result: unknown): string | null =>
  result === undefined ? null : JSON.stringify(result);

/** What a failed run writes to its job: ready again later (RetryLater, a retry after its backoff), or dead. */
export function failure(
  job: Job,
  err: unknown,
  now: number,
  policy: OutcomePolicy,
): UpdateObject<Database, 'jobs'> {
  if (err instanceof RetryLater) {
    // Not a failure: the attempt is given back; never sooner than 10 ms, so nothing spins. A
    // runNow() that came while it ran found it running, not waiting: it is due at once.
    const runAt = now + (policy.runNowAsked?.(job) ? 10 : Math.max(10, err.ms));
    policy.delayed(runAt);
    return {
      status: 'ready',
      runAt,
      attempts: sql<number>`attempts - 1`,
      lockedUntil: null,
      error: err.message,
      updatedAt: now,
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  const dead = job.attempts >= policy.maxAttempts;
  // Drawn once (it is jittered): the timer must wake for the time the row holds.
  const runAt = dead ? now : now + policy.backoffMs(job.attempts);
  if (!dead) policy.delayed(runAt);
  policy.log?.warn(
    { job: job.id, queue: job.queue, attempts: job.attempts, err: message },
    dead ? 'job failed for the last time: dead' : 'job failed; will retry',
  );
  return {
    status: dead ? 'dead' : 'ready',
    runAt,
    lockedUntil: null,
    error: message.slice(0, 2000),
    updatedAt: now,
    finishedAt: dead ? now : null,
  };
}
