import { type ExpressionBuilder, type Selectable, sql, type Transaction } from 'kysely';
import { builder } from '../store/builder.ts';
import { compile, param as p } from '../store/prepared.ts';
import type { Database, JobTable } from '../store/schema.ts';
import type { JobStatus, NewJob } from './queue.ts';

// The embedded queue's statements, compiled once (store/prepared.ts).
//
// The statuses below are SQL literals, not bound parameters: SQLite uses a partial index
// (jobs_unfinished, jobs_finished) only when the query's condition matches the index's as written,
// and without them every claim would read every job ever done.

/** SQL literals for the partial indexes (see above). */
export const status = (s: JobStatus) => sql.lit<JobStatus>(s);
export const READY = status('ready');
export const ACTIVE = status('active');
export const DONE = status('done');
export const UNFINISHED = [READY, ACTIVE];
/** Rows per insert statement (SQLite caps the parameters of one statement). */
const ADD_CHUNK = 500;

/**
 * The claim's condition on a job `j` (both backends): the oldest unfinished job of its key, with none
 * of its key running.
 */
export const firstOfIdleKey = (eb: ExpressionBuilder<Database & { j: JobTable }, 'j'>) => {
  const unfinishedOfKey = () =>
    eb
      .selectFrom('jobs as k')
      .select(sql`1`.as('one'))
      .whereRef('k.queue', '=', 'j.queue')
      .whereRef('k.key', '=', 'j.key')
      .where('k.status', 'in', UNFINISHED);
  return eb.and([
    // The oldest unfinished job of its key (an index range up to this job's order_at) ...
    eb.not(
      eb.exists(
        unfinishedOfKey()
          .whereRef('k.orderAt', '<=', 'j.orderAt')
          .where((k) => k.or([k('k.orderAt', '<', k.ref('j.orderAt')), k('k.id', '<', k.ref('j.id'))])),
      ),
    ),
    // ... and none of its key running (a later job may have started before this one was added).
    eb.not(eb.exists(unfinishedOfKey().where('k.status', '=', ACTIVE))),
  ]);
};

/** The statuses counted (done and dead matched as jobs_finished's condition is written). */
const STATUSES: readonly JobStatus[] = ['ready', 'active', 'done', 'dead'];

/** The statements of every round, compiled once (store/prepared.ts). */
export const q = {
  /**
   * Jobs that may run now, in claim order. Unary + keeps SQLite from using run_at's index: walking
   * jobs_ready_order in order and stopping at `limit` claimable jobs beats sorting every ready job
   * on each claim.
   */
  claimable: compile<
    { queue: string; now: number; limit: number },
    Pick<Selectable<JobTable>, 'id' | 'queue' | 'key' | 'orderAt' | 'dedupKey' | 'payload' | 'attempts'>
  >(
    builder
      .selectFrom('jobs as j')
      .select(['j.id', 'j.queue', 'j.key', 'j.orderAt', 'j.dedupKey', 'j.payload', 'j.attempts'])
      .where('j.queue', '=', p<string>('queue'))
      .where('j.status', '=', READY)
      .where(sql<number>`+${sql.ref('j.runAt')}`, '<=', p<number>('now'))
      .where(firstOfIdleKey)
      .orderBy('j.orderAt')
      .orderBy('j.id')
      .limit(p<number>('limit')),
  ),
  markActive: compile<{ id: number; lockedUntil: number; now: number }>(
    builder
      .updateTable('jobs')
      .set((eb) => ({
        status: 'active',
        attempts: eb('attempts', '+', 1),
        lockedUntil: p<number>('lockedUntil'),
        updatedAt: p<number>('now'),
      }))
      .where('id', '=', p<number>('id')),
  ),
  markDone: compile<{ id: number; result: string | null; now: number }>(
    builder
      .updateTable('jobs')
      .set({
        status: 'done',
        result: p<string | null>('result'),
        lockedUntil: null,
        updatedAt: p<number>('now'),
        finishedAt: p<number>('now'),
      })
      .where('id', '=', p<number>('id')),
  ),
  /** An unfinished job of the key other than `id`. */
  otherOfKey: compile<{ queue: string; key: string; id: number }, { one: number }>(
    builder
      .selectFrom('jobs')
      .select(sql<number>`1`.as('one'))
      .where('queue', '=', p<string>('queue'))
      .where('key', '=', p<string>('key'))
      .where('status', 'in', UNFINISHED)
      .where('id', '!=', p<number>('id'))
      .limit(1),
  ),
  /** When the next delayed job of a queue is due. */
  nextDue: compile<{ queue: string; after: number }, { at: number | null }>(
    builder
      .selectFrom('jobs')
      .select((eb) => eb.fn.min('runAt').as('at'))
      .where('status', '=', READY)
      .where('queue', '=', p<string>('queue'))
      .where('runAt', '>', p<number>('after')),
  ),
  /**
   * Jobs of each status, each counted over its status's own partial index; one statement, so that
   * a job moving on meanwhile is counted once (one snapshot).
   */
  counts: compile<Record<string, never>, Record<JobStatus, number>>(
    builder.selectNoFrom((eb) =>
      STATUSES.map((s) =>
        eb
          .selectFrom('jobs')
          .select((c) => c.fn.countAll<number>().as('n'))
          .$if(s === 'done' || s === 'dead', (qb) => qb.where('status', 'in', [DONE, status('dead')]))
          .where('status', '=', status(s))
          .as(s),
      ),
    ),
  ),
};

/** A job's identity and payload, from its row. */
export const jobOf = (
  r: Pick<Selectable<JobTable>, 'id' | 'queue' | 'key' | 'orderAt' | 'dedupKey' | 'payload'>,
) => ({
  id: Number(r.id),
  queue: r.queue,
  key: r.key,
  orderAt: Number(r.orderAt),
  dedupKey: r.dedupKey,
  payload: JSON.parse(r.payload) as unknown,
});

/** Adds jobs inside `trx` (a job whose dedup key exists already is skipped); the number added. */
export async function insertJobs(trx: Transaction<Database>, jobs: NewJob[], now: number): Promise<number> {
  const rows = jobs.map((j) => ({
    queue: j.queue,
    key: j.key,
    orderAt: j.orderAt,
    dedupKey: j.dedupKey,
    payload: JSON.stringify(j.payload),
    status: 'ready' as const,
    attempts: 0,
    runAt: now,
    lockedUntil: null,
    error: null,
    result: null,
    createdAt: now,
    updatedAt: now,
    finishedAt: null,
  }));
  let n = 0;
  // In statements small enough for SQLite's parameter cap.
  for (let i = 0; i < rows.length; i += ADD_CHUNK) {
    const result = await trx
      .insertInto('jobs')
      .values(rows.slice(i, i + ADD_CHUNK))
      .onConflict((oc) => oc.column('dedupKey').doNothing())
      .executeTakeFirst();
    n += Number(result.numInsertedOrUpdatedRows ?? 0);
  }
  return n;
}
