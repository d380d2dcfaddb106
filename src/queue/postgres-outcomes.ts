import { sql, type Transaction } from 'kysely';
import type { Logger } from '../log.ts';
import type { Database } from '../store/schema.ts';
import { settle, settleDone } from './postgres-statements.ts';
import { type Job, RetryLater } from './queue.ts';

// What the PostgreSQL queue (postgres.ts) writes when handlers end: done with their result, put
// off (RetryLater: the attempt given back), retried after a backoff, or dead after the last attempt.
// Each write is fenced on the run (postgres-statements.ts): a run taken over writes nothing.

export type Outcome = { ok: true; result: unknown } | { ok: false; err: unknown };

export interface Ended {
  job: Job;
  outcome: Outcome;
}

export interface OutcomePolicy {
  maxAttempts: number;
  backoffMs: (attempt: number) => number;
  /** A job was put off until `runAt`. */
  delayed: (runAt: number) => void;
  log?: Logger;
}

/** Writes the outcomes of a round; the jobs whose runs were no longer theirs (taken over). */
export async function recordOutcomes(
  trx: Transaction<Database>,
  ended: Ended[],
  now: number,
  policy: OutcomePolicy,
): Promise<number[]> {
  const lost: number[] = [];
  const done: { id: number; attempts: number; result: string | null }[] = [];
  for (const { job, outcome } of ended) {
    if (outcome.ok) {
      const result = outcome.result === undefined ? null : JSON.stringify(outcome.result);
      done.push({ id: job.id, attempts: job.attempts, result });
    } else if (!(await recordFailure(trx, job, outcome.err, now, policy))) lost.push(job.id);
  }
  const kept = await settleDone(trx, done, now);
  for (const d of done) if (!kept.has(d.id)) lost.push(d.id);
  return lost;
}

/** Retried later, or dead; false when the run was no longer the job's. */
function recordFailure(
  trx: Transaction<Database>,
  job: Job,
  err: unknown,
  now: number,
  policy: OutcomePolicy,
): Promise<boolean> {
  if (err instanceof RetryLater) {
    // Not a failure: the attempt is given back; never sooner than 10 ms, so nothing spins.
    const runAt = now + Math.max(10, err.ms);
    policy.delayed(runAt);
    return settle(trx, job, {
      status: 'ready',
      runAt,
      attempts: sql<number>`attempts - 1`,
      lockedUntil: null,
      error: err.message,
      updatedAt: now,
    });
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
  return settle(trx, job, {
    status: dead ? 'dead' : 'ready',
    runAt,
    lockedUntil: null,
    error: message.slice(0, 2000),
    updatedAt: now,
    finishedAt: dead ? now : null,
  });
}
