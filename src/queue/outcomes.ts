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
  log?: Logger;
}

/** A done job's result as the row keeps it. */
export const resultOf = (result: unknown): string | null =>
  result === undefined ? null : JSON.stringify(result);

/**
 * A wait from `now`, cut to 10 ms when runNow() was asked while the job ran (its row's mark, set by
 * runNow() in whichever process: it found the job running, not waiting). Drawn once (a backoff is
 * jittered): the timer wakes for the time the row holds, which the write answers (RETURNING).
 */
const waitUntil = (now: number, ms: number) =>
  sql<number>`case when run_again = 1 then cast(${Math.round(now + 10)} as bigint) else cast(${Math.round(now + ms)} as bigint) end`;

/**
 * What a failed run writes to its job: ready again later (RetryLater, a retry after its backoff), or
 * dead. The caller reads back `run_at` and `status` to set its timer.
 */
export function failure(
  job: Job,
  err: unknown,
  now: number,
  policy: OutcomePolicy,
): UpdateObject<Database, 'jobs'> {
  if (err instanceof RetryLater) {
    // Not a failure: the attempt is given back; never sooner than 10 ms, so nothing spins.
    return {
      status: 'ready',
      runAt: waitUntil(now, Math.max(10, err.ms)),
      runAgain: 0,
      attempts: sql<number>`attempts - 1`,
      lockedUntil: null,
      error: err.message,
      updatedAt: now,
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  const dead = job.attempts >= policy.maxAttempts;
  policy.log?.warn(
    { job: job.id, queue: job.queue, attempts: job.attempts, err: message },
    dead ? 'job failed for the last time: dead' : 'job failed; will retry',
  );
  return {
    status: dead ? 'dead' : 'ready',
    runAt: dead ? now : waitUntil(now, policy.backoffMs(job.attempts)),
    runAgain: 0,
    lockedUntil: null,
    error: message.slice(0, 2000),
    updatedAt: now,
    finishedAt: dead ? now : null,
  };
}

/** After a failure's write: the job is due again at the `runAt` its row got, if it is ready. */
export function putOff(row: { status: string; runAt: number } | undefined, policy: OutcomePolicy): void {
  if (row?.status === 'ready') policy.delayed(Number(row.runAt));
}
