import { type Kysely, type Selectable, sql } from 'kysely';
import type { Database, JobTable } from '../store/schema.ts';
import { ACTIVE, DONE, jobOf, q, READY, status, UNFINISHED } from './job-statements.ts';
import type { JobAdmin, JobStatus, JobView, QueueStats } from './queue.ts';

// The queue's admin side, on either store (the statements compiled for SQLite are compiled again
// for PostgreSQL, store/prepared.ts): what the API shows of jobs, retrying a dead one, and deleting
// done ones past their retention.

/** Done jobs are deleted at most this many per statement. */
const PRUNE_BATCH = 1000;

export class StoredJobAdmin implements JobAdmin {
  readonly #db: Kysely<Database>;
  readonly #now: () => number;

  constructor(db: Kysely<Database>, now: () => number) {
    this.#db = db;
    this.#now = now;
  }

  /**
   * Ready jobs of `queue` (of `keys`, if given) waiting for a later time are due now; how many. Those
   * running are marked: a wait or a retry their run ends with is cut short (outcomes.ts), whichever
   * process runs them and whichever of the two writes comes first. One row per statement: a
   * statement locking several running rows could deadlock with a round's outcomes, which lock
   * several too, in their own order (a job claimed after the read started after this call).
   */
  async runNow(queue: string, keys?: readonly string[]): Promise<number> {
    if (keys?.length === 0) return 0;
    const now = this.#now();
    const running = await this.#db
      .selectFrom('jobs')
      .select('id')
      .where('queue', '=', queue)
      .where('status', '=', ACTIVE)
      .$if(keys !== undefined, (qb) => qb.where('key', 'in', keys!))
      .orderBy('id')
      .execute();
    for (const { id } of running)
      await this.#db
        .updateTable('jobs')
        .set({ runAgain: 1 })
        .where('id', '=', id)
        .where('status', '=', ACTIVE)
        .execute();
    const r = await this.#db
      .updateTable('jobs')
      .set({ runAt: now, updatedAt: now })
      .where('queue', '=', queue)
      .where('status', '=', READY)
      .where('runAt', '>', now)
      .$if(keys !== undefined, (qb) => qb.where('key', 'in', keys!))
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async list(filter: Parameters<JobAdmin['list']>[0]): Promise<JobView[]> {
    let query = this.#db.selectFrom('jobs').selectAll().orderBy('id', 'desc').limit(filter.limit);
    if (filter.queue) query = query.where('queue', '=', filter.queue);
    if (filter.status) query = query.where('status', '=', filter.status);
    if (filter.key) query = query.where('key', '=', filter.key);
    if (filter.before !== undefined) query = query.where('id', '<', filter.before);
    return (await query.execute()).map(view);
  }

  async get(id: number): Promise<JobView | null> {
    const row = await this.#db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? view(row) : null;
  }

  /** A dead job back to ready, attempts reset (the queue must be woken). */
  async retry(id: number): Promise<boolean> {
    const now = this.#now();
    const done = await this.#db
      .updateTable('jobs')
      .set({ status: 'ready', attempts: 0, runAt: now, runAgain: 0, finishedAt: null, updatedAt: now })
      .where('id', '=', id)
      .where('status', '=', 'dead')
      .executeTakeFirst();
    return Number(done.numUpdatedRows) > 0;
  }

  /** Jobs of each status, in one statement (one snapshot), each over its status's partial index. */
  async counts(): Promise<Record<JobStatus, number>> {
    const r = await q.counts.first(this.#db, {});
    return {
      ready: Number(r?.ready ?? 0),
      active: Number(r?.active ?? 0),
      done: Number(r?.done ?? 0),
      dead: Number(r?.dead ?? 0),
    };
  }

  /**
   * Each queue's unfinished and dead jobs, and when its oldest due job fell due: each count over a
   * partial index that holds the queue (dead jobs are few; done ones, kept for their history, are
   * not counted here: counts() has them).
   */
  async stats(now: number): Promise<QueueStats[]> {
    const byQueue = new Map<string, QueueStats>();
    const of = (queue: string) => {
      let s = byQueue.get(queue);
      if (!s) {
        s = { queue, counts: { ready: 0, active: 0, dead: 0 }, oldestDueAt: null };
        byQueue.set(queue, s);
      }
      return s;
    };
    const ready = await this.#db
      .selectFrom('jobs')
      .select((eb) => [
        'queue',
        eb.fn.countAll<number>().as('n'),
        sql<number | null>`min(case when ${sql.ref('runAt')} <= ${now} then ${sql.ref('runAt')} end)`.as(
          'due',
        ),
      ])
      .where('status', '=', READY)
      .groupBy('queue')
      .execute();
    for (const r of ready) {
      const s = of(r.queue);
      s.counts.ready = Number(r.n);
      s.oldestDueAt = r.due === null ? null : Number(r.due);
    }
    const active = await this.#db
      .selectFrom('jobs')
      .select((eb) => ['queue', eb.fn.countAll<number>().as('n')])
      .where('status', 'in', UNFINISHED)
      .where('status', '=', ACTIVE)
      .groupBy('queue')
      .execute();
    for (const r of active) of(r.queue).counts.active = Number(r.n);
    const dead = await this.#db
      .selectFrom('jobs')
      .select((eb) => ['queue', eb.fn.countAll<number>().as('n')])
      .where('status', 'in', [DONE, status('dead')])
      .where('status', '=', status('dead'))
      .groupBy('queue')
      .execute();
    for (const r of dead) of(r.queue).counts.dead = Number(r.n);
    return [...byQueue.values()];
  }

  /** Deletes the done jobs finished before `finishedBefore` (dead ones stay); returns how many. */
  async prune(finishedBefore: number): Promise<number> {
    let total = 0;
    for (;;) {
      const result = await this.#db
        .deleteFrom('jobs')
        .where(
          'id',
          'in',
          this.#db
            .selectFrom('jobs')
            .select('id')
            .where('status', 'in', [DONE, status('dead')])
            .where('status', '=', DONE)
            .where('finishedAt', '<', finishedBefore)
            .limit(PRUNE_BATCH),
        )
        .executeTakeFirst();
      const n = Number(result.numDeletedRows);
      total += n;
      if (n < PRUNE_BATCH) return total;
    }
  }
}

function view(r: Selectable<JobTable>): JobView {
  return {
    ...jobOf(r),
    status: r.status,
    attempts: r.attempts,
    runAt: Number(r.runAt),
    error: r.error,
    result: r.result === null ? null : JSON.parse(r.result),
    createdAt: Number(r.createdAt),
    updatedAt: Number(r.updatedAt),
    finishedAt: r.finishedAt === null ? null : Number(r.finishedAt),
  };
}
