import { type Kysely, sql, type Transaction, type UpdateObject } from 'kysely';
import type { Database } from '../store/schema.ts';
import { ACTIVE, firstOfIdleKey, jobOf, READY } from './job-statements.ts';
import type { Job } from './queue.ts';

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

/** Tells every listening process that `queues` have jobs to look at, when `db`'s transaction commits. */
export async function notify(db: Db, queues: Iterable<string>): Promise<void> {
  for (const queue of new Set(queues)) await sql`select pg_notify(${WAKE_CHANNEL}, ${queue})`.execute(db);
}

/**
 * Up to `limit` jobs of `queue` that may run now, marked active with a lease of `leaseMs`: the
 * oldest unfinished job of its key (order_at, then id), due, with none of its key running.
 */
export async function claim(
  trx: Transaction<Database>,
  args: { queue: string; limit: number; now: number; leaseMs: number },
): Promise<Job[]> {
  // 1. Candidates, row-locked (others skip them), then their keys' locks where free.
  const candidates = await trx
    .with(
      (cte) => cte('c').materialized(),
      (db) =>
        db
          .selectFrom('jobs as j')
          .select(['j.id', 'j.queue', 'j.key'])
          .where('j.queue', '=', args.queue)
          .where('j.status', '=', READY)
          .where('j.runAt', '<=', args.now)
          .where(firstOfIdleKey)
          .orderBy('j.orderAt')
          .orderBy('j.id')
          .limit(args.limit)
          .forUpdate('j')
          .skipLocked(),
    )
    .selectFrom('c')
    .select('c.id')
    .where(
      sql<boolean>`pg_try_advisory_xact_lock(hashtext(${sql.ref('c.queue')}), hashtext(${sql.ref('c.key')}))`,
    )
    .execute();
  if (candidates.length === 0) return [];
  // 2. With the keys locked, a fresh snapshot: none of the key may have become active meanwhile.
  const rows = await trx
    .updateTable('jobs as j')
    .set((eb) => ({
      status: 'active',
      attempts: eb('j.attempts', '+', 1),
      lockedUntil: sql<number>`${dbNow} + ${args.leaseMs}`,
      updatedAt: args.now,
    }))
    .where(
      'j.id',
      'in',
      candidates.map((c) => c.id),
    )
    .where('j.status', '=', READY)
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('jobs as k')
            .select(sql`1`.as('one'))
            .whereRef('k.queue', '=', 'j.queue')
            .whereRef('k.key', '=', 'j.key')
            .where('k.status', '=', ACTIVE),
        ),
      ),
    )
    .returning(['j.id', 'j.queue', 'j.key', 'j.orderAt', 'j.dedupKey', 'j.payload', 'j.attempts'])
    .execute();
  return rows
    .map((r) => ({ ...jobOf(r), attempts: Number(r.attempts) }))
    .sort((a, b) => a.orderAt - b.orderAt || a.id - b.id);
}

/**
 * Writes an outcome of the job's run `attempts` only: a job taken back meanwhile (its lease ran out)
 * and claimed again is the new run's. False when the run was no longer the job's.
 */
export async function settle(
  trx: Transaction<Database>,
  job: Pick<Job, 'id' | 'attempts'>,
  values: UpdateObject<Database, 'jobs'>,
): Promise<boolean> {
  const r = await trx
    .updateTable('jobs')
    .set(values)
    .where('id', '=', job.id)
    .where('status', '=', ACTIVE)
    .where('attempts', '=', job.attempts)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/**
 * Marks done, in one statement, the runs that succeeded (the common outcome: a round's worth of
 * them costs one round trip, not one each); fenced as settle() is. The ids that were still theirs.
 */
export async function settleDone(
  trx: Transaction<Database>,
  runs: { id: number; attempts: number; result: string | null }[],
  now: number,
): Promise<Set<number>> {
  if (runs.length === 0) return new Set();
  const rows = await trx
    .updateTable('jobs as j')
    .from(
      sql<{ id: number; attempts: number; result: string | null }>`(select * from unnest(
        ${runs.map((r) => r.id)}::bigint[], ${runs.map((r) => r.attempts)}::int[],
        ${runs.map((r) => r.result)}::text[]) as r(id, attempts, result))`.as('r'),
    )
    .set((eb) => ({
      status: 'done',
      result: eb.ref('r.result'),
      lockedUntil: null,
      updatedAt: now,
      finishedAt: now,
    }))
    .whereRef('j.id', '=', 'r.id')
    .whereRef('j.attempts', '=', 'r.attempts')
    .where('j.status', '=', ACTIVE)
    .returning('j.id')
    .execute();
  return new Set(rows.map((r) => Number(r.id)));
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
  const row = await db
    .selectFrom('jobs')
    .select((eb) => eb.fn.min('runAt').as('at'))
    .where('status', '=', READY)
    .where('queue', 'in', queues)
    .where('runAt', '>', after)
    .executeTakeFirst();
  return row?.at == null ? null : Number(row.at);
}
