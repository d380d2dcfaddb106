import type { Transaction } from 'kysely';
import type { Database } from '../store/schema.ts';
import { type Ended, failure, type OutcomePolicy, resultOf } from './outcomes.ts';
import { settle, settleDone } from './postgres-statements.ts';

// What the PostgreSQL queue (postgres.ts) writes when handlers end (outcomes.ts says what). Each
// write is fenced on the run (postgres-statements.ts): a run taken over writes nothing.

/** Writes the outcomes of a round; the jobs whose runs were no longer theirs (taken over). */
export async function recordOutcomes(
  trx: Transaction<Database>,
  ended: Ended[],
  now: number,
  policy: OutcomePolicy,
): Promise<number[]> {
  const lost: number[] = [];
  // The common outcome: a round's worth of them in one statement.
  const done: { id: number; attempts: number; result: string | null }[] = [];
  for (const { job, outcome } of ended) {
    if (outcome.ok) done.push({ id: job.id, attempts: job.attempts, result: resultOf(outcome.result) });
    else if (!(await settle(trx, job, failure(job, outcome.err, now, policy)))) lost.push(job.id);
  }
  const kept = await settleDone(trx, done, now);
  for (const d of done) if (!kept.has(d.id)) lost.push(d.id);
  return lost;
}
