import { type Kysely, sql, type Transaction, type UpdateObject } from 'kysely';
import { builder } from '../store/builder.ts';
import { compile, param as p } from '../store/prepared.ts';
import type { Database } from '../store/schema.ts';
import { ACTIVE, jobOf, READY } from './job-statements.ts';
import type { Job, NewJob } from './queue.ts';
import type { Wanted } from './runner.ts';

// The PostgreSQL queue's statements (postgres.ts), on the store's `jobs` table. Statuses are SQL
// literals, as in job-statements.ts: PostgreSQL too uses a partial index only when the query's
// condition implies the index's, and a bound parameter implies nothing.
//
// One key's jobs never run at the same time, whatever the number of processes: a claim takes the
// key's transaction-scoped advisory lock, then checks in a statement of its own (a snapshot taken
// after the lock, so it sees every claim of the key that committed before) that no job of the key
// is active, and marks its job active before committing, which releases the lock. Row locks alone
// (FOR UPDATE SKIP LOCKED) keep two claims off one row, not off one key: a later job of the key,
// being claimed and not yet committed, is still `ready` to another claim of an earlier job added
// meanwhile.

type Db = Kysely<Database> | Transaction<Database>;

/** The channel of wake-ups across processes: its payload is the queue with new or freed jobs. */
export const WAKE_CHANNEL = 'igdm_jobs';

/**
 * Leases are read on the database's clock, not the processes': workers on different machines
 * agree on when one ran out.
 */
const dbNow = sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`;

const q = {
  /**
   * A round (igdm_round, migrations-queue.ts): the runs that succeeded marked done, fenced on their
   * attempts (`settled` rows: whether a job of the key waits), then the claims (the other rows).
   */
  round: compile<
    {
      ids: number[];
      attempts: number[];
      results: (string | null)[];
      now: number;
      queues: string[];
      limits: number[];
      ifWaiting: boolean[];
      leaseMs: number;
    },
    {
      settled: boolean;
      waiting: boolean;
      id: number;
      queue: string;
      key: string;
      orderAt: number;
      dedupKey: string;
      payload: string;
      attempts: number;
    }
  >(
    sql`select o_settled as settled, o_waiting as waiting, o_id as id, o_queue as queue, o_key as key,
        o_order_at as order_at, o_dedup_key as dedup_key, o_payload as payload, o_attempts as attempts
      from igdm_round(${p('ids')}::bigint[], ${p('attempts')}::integer[], ${p('results')}::text[],
        ${p('now')}::bigint, ${p('queues')}::text[], ${p('limits')}::integer[], ${p('ifWaiting')}::boolean[],
        ${p('leaseMs')}::bigint)`,
  ),
  /**
   * Adds jobs (one skipped when its dedup key exists) and NOTIFYs each queue that got one, in one
   * statement: the notifications are delivered when the transaction commits. A queue of `mine` is
   * not notified (postgres.ts: the adding process claims those itself).
   */
  insert: compile<
    {
      queues: string[];
      keys: string[];
      orderAts: number[];
      dedupKeys: (string | null)[];
      payloads: string[];
      now: number;
      mine: string[];
    },
    { added: number; woken: number }
  >(
    sql`with added as (
      insert into jobs (queue, key, order_at, dedup_key, payload, status, attempts, run_at, created_at, updated_at)
      select t.queue, t.key, t.order_at, t.dedup_key, t.payload, 'ready', 0, ${p('now')}::bigint, ${p('now')}::bigint, ${p('now')}::bigint
      from unnest(${p('queues')}::text[], ${p('keys')}::text[], ${p('orderAts')}::bigint[],
        ${p('dedupKeys')}::text[], ${p('payloads')}::text[]) as t(queue, key, order_at, dedup_key, payload)
      on conflict (dedup_key) do nothing
      returning queue),
    woken as (select pg_notify(${WAKE_CHANNEL}, d.queue)
      from (select distinct queue from added) d where not d.queue = any(${p('mine')}::text[]))
    select (select count(*) from added)::int as added, (select count(*) from woken)::int as woken`,
  ),
  nextDue: compile<{ queues: string[]; after: number }, { at: number | null }>(
    builder
      .selectFrom('jobs')
      .select((eb) => eb.fn.min('runAt').as('at'))
      .where('status', '=', READY)
      .where(sql<boolean>`queue = any(${p<string[]>('queues')}::text[])`)
      .where('runAt', '>', p<number>('after')),
  ),
  notify: compile<{ queues: string[] }>(
    sql`select pg_notify(${WAKE_CHANNEL}, q) from unnest(${p('queues')}::text[]) as q`,
  ),
};

/** Tells every listening process that `queues` have jobs to look at, when `db`'s transaction commits. */
export async function notify(db: Db, queues: Iterable<string>): Promise<void> {
  const distinct = [...new Set(queues)];
  if (distinct.length > 0) await q.notify.run(db, { queues: distinct });
}

/** The insert's arguments: the jobs as columns; `mine`, the queues not to notify. */
const insertArgs = (jobs: NewJob[], now: number, mine: string[]) => ({
  mine,
  queues: jobs.map((j) => j.queue),
  keys: jobs.map((j) => j.key),
  orderAts: jobs.map((j) => j.orderAt),
  dedupKeys: jobs.map((j) => j.dedupKey),
  payloads: jobs.map((j) => JSON.stringify(j.payload)),
  now,
});

/**
 * Adds jobs inside `trx` (one whose dedup key exists is skipped), notifying their queues but those
 * of `mine` (postgres.ts: the adding process claims them). The number added.
 */
export async function insertJobs(
  trx: Transaction<Database>,
  jobs: NewJob[],
  now: number,
  mine: string[] = [],
): Promise<number> {
  if (jobs.length === 0) return 0;
  const row = await q.insert.first(trx, insertArgs(jobs, now, mine));
  return Number(row?.added ?? 0);
}

/**
 * insertJobs without waiting for its answer (Compiled.later): sent with the transaction's next
 * statement, which fails with the insert's error if it failed.
 */
export async function insertJobsLater(
  trx: Transaction<Database>,
  jobs: NewJob[],
  now: number,
  mine: string[],
): Promise<void> {
  if (jobs.length > 0) await q.insert.later(trx, insertArgs(jobs, now, mine));
}

/** A finished run to mark done, if it is still the job's. */
export interface DoneRun {
  id: number;
  attempts: number;
  result: string | null;
}

/**
 * One round in one statement (one transaction): `done` marked done where the run is still the
 * job's (`kept`; `waiting`: the queues where one of them has another job of its key ready), then for
 * each queue wanted up to its `limit` jobs that may run now, marked active with a lease of `leaseMs`:
 * the oldest unfinished job of its key (order_at, then id), due, with none of its key running. A
 * queue asked `ifWaiting` is claimed only when it is in `waiting`. Run outside a transaction, it
 * commits at once, releasing the keys' locks. The claimed jobs by queue, oldest first.
 */
export async function settleAndClaim(
  db: Db,
  args: {
    done: readonly DoneRun[];
    wanted: readonly (Omit<Wanted, 'w'> & { ifWaiting: boolean })[];
    now: number;
    leaseMs: number;
  },
): Promise<{ kept: Set<number>; waiting: Set<string>; claimed: Map<string, Job[]> }> {
  const rows = await q.round.all(db, {
    ids: args.done.map((r) => r.id),
    attempts: args.done.map((r) => r.attempts),
    results: args.done.map((r) => r.result),
    now: args.now,
    queues: args.wanted.map((w) => w.queue),
    limits: args.wanted.map((w) => w.limit),
    ifWaiting: args.wanted.map((w) => w.ifWaiting),
    leaseMs: args.leaseMs,
  });
  const settled = rows.filter((r) => r.settled);
  return {
    kept: new Set(settled.map((r) => Number(r.id))),
    waiting: new Set(settled.filter((r) => r.waiting).map((r) => r.queue)),
    claimed: byQueue(rows.filter((r) => !r.settled)),
  };
}

/** The claims of a round alone (settleAndClaim with no runs): the jobs by queue. */
export async function claim(
  db: Db,
  args: { wanted: readonly Omit<Wanted, 'w'>[]; now: number; leaseMs: number },
): Promise<Map<string, Job[]>> {
  const wanted = args.wanted.map((w) => ({ ...w, ifWaiting: false }));
  return (await settleAndClaim(db, { ...args, done: [], wanted })).claimed;
}

/** The outcomes of a round alone (settleAndClaim with no queues), in the caller's transaction. */
export async function settleDone(
  trx: Db,
  runs: readonly DoneRun[],
  now: number,
): Promise<{ kept: Set<number>; waiting: Set<string> }> {
  if (runs.length === 0) return { kept: new Set(), waiting: new Set() };
  const { kept, waiting } = await settleAndClaim(trx, { done: runs, wanted: [], now, leaseMs: 0 });
  return { kept, waiting };
}

/** Claimed rows as jobs by queue, oldest first. */
const byQueue = (rows: (Parameters<typeof jobOf>[0] & { attempts: number | string })[]): Map<string, Job[]> =>
  Map.groupBy(
    rows
      .map((r) => ({ ...jobOf(r), attempts: Number(r.attempts) }))
      .sort((a, b) => a.orderAt - b.orderAt || a.id - b.id),
    (j) => j.queue,
  );

/**
 * Writes an outcome of the job's run `attempts` only: a job taken back meanwhile (its lease ran out)
 * and claimed again is the new run's. The row as written (its status and when it is due), or
 * undefined when the run was no longer the job's.
 */
export function settle(
  trx: Db,
  job: Pick<Job, 'id' | 'attempts'>,
  values: UpdateObject<Database, 'jobs'>,
): Promise<{ status: string; runAt: number } | undefined> {
  return trx
    .updateTable('jobs')
    .set(values)
    .where('id', '=', job.id)
    .where('status', '=', ACTIVE)
    .where('attempts', '=', job.attempts)
    .returning(['status', 'runAt'])
    .executeTakeFirst();
}

/** Renews the leases of the runs this process has (job id, attempt); the ids still its own. */
export async function renew(
  db: Db,
  runs: [id: number, attempts: number][],
  leaseMs: number,
): Promise<number[]> {
  if (runs.length === 0) return [];
  const rows = await db
    .updateTable('jobs')
    .set({ lockedUntil: sql<number>`${dbNow} + ${leaseMs}` })
    .where('status', '=', ACTIVE)
    .where((eb) =>
      eb.or(runs.map(([id, attempts]) => eb.and([eb('id', '=', id), eb('attempts', '=', attempts)]))),
    )
    .returning('id')
    .execute();
  return rows.map((r) => Number(r.id));
}

/**
 * Jobs whose lease ran out (their process died, or stalled past its lease) run again, their attempt
 * counted; one that was on its last attempt is dead instead (it may be what killed the process).
 * Rows another transaction holds are left for the next pass. The queues that got jobs back.
 */
export async function takeBack(
  db: Db,
  maxAttempts: number,
  now: number,
): Promise<{ dead: number[]; queues: string[] }> {
  const rows = await db
    .updateTable('jobs as j')
    .from(
      db
        .selectFrom('jobs')
        .select('id')
        .where('status', '=', ACTIVE)
        .where('lockedUntil', '<', dbNow)
        .forUpdate()
        .skipLocked()
        .as('x'),
    )
    .set((eb) => ({
      status: sql`case when ${eb.ref('j.attempts')} >= ${maxAttempts} then 'dead' else 'ready' end`,
      runAt: now,
      runAgain: 0,
      lockedUntil: null,
      updatedAt: now,
      error: sql`case when ${eb.ref('j.attempts')} >= ${maxAttempts}
        then 'interrupted on its last attempt: the process running it stopped' else ${eb.ref('j.error')} end`,
      finishedAt: sql`case when ${eb.ref('j.attempts')} >= ${maxAttempts} then ${now}::bigint end`,
    }))
    .whereRef('j.id', '=', 'x.id')
    .returning(['j.id', 'j.queue', 'j.status'])
    .execute();
  return {
    dead: rows.filter((r) => r.status === 'dead').map((r) => Number(r.id)),
    queues: [...new Set(rows.filter((r) => r.status === 'ready').map((r) => r.queue))],
  };
}

/** When the next delayed job (a retry, a RetryLater) of `queues` is due after `after`, if any. */
export async function nextDue(db: Db, queues: string[], after: number): Promise<number | null> {
  if (queues.length === 0) return null;
  const row = await q.nextDue.first(db, { queues, after });
  return row?.at == null ? null : Number(row.at);
}
