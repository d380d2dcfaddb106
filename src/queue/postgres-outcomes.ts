import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../store/schema.ts';
import { type Ended, failure, type OutcomePolicy, putOff, resultOf } from './outcomes.ts';
import { type DoneRun, settle, settleDone } from './postgres-statements.ts';

// What the PostgreSQL queue (postgres.ts) writes when handlers end (outcomes.ts says what). Each
// write is fenced on the run (postgres-statements.ts): a run taken over writes nothing.

/** A run that succeeded, as its job is marked done (settleDone, settleAndClaim). */
export const doneRun = ({ job, outcome }: Ended): DoneRun => ({
  id: job.id,
  attempts: job.attempts,
  result: outcome.ok ? resultOf(outcome.result) : null,
});

/**
 * Writes the outcomes of a round. `lost`: the jobs whose runs were no longer theirs (taken over);
 * `freed`: the queues where a job that ended may have let the next of its key run (a done job with
 * one of its key waiting, a failed one: dead, it releases its key).
 */
export async function recordOutcomes(
  trx: Kysely<Database> | Transaction<Database>,
  ended: Ended[],
  now: number,
  policy: OutcomePolicy,
): Promise<{ lost: number[]; freed: Set<string> }> {
  const lost: number[] = [];
  const freed = new Set<string>();
  // The common outcome: a round's worth of them in one statement.
  const done: DoneRun[] = [];
  for (const e of ended) {
    const { job, outcome } = e;
    if (outcome.ok) done.push(doneRun(e));
    else {
      freed.add(job.queue);
      const row = await settle(trx, job, failure(job, outcome.err, now, policy));
      if (row) putOff(row, policy);
      else lost.push(job.id);
    }
  }
  const { kept, waiting } = await settleDone(trx, done, now);
  for (const d of done) if (!kept.has(d.id)) lost.push(d.id);
  for (const queue of waiting) freed.add(queue);
  return { lost, freed };
}
