import type { DatabaseSync } from 'node:sqlite';
import { type Kysely, type Selectable, sql } from 'kysely';
import type { Logger } from '../log.ts';
import { kyselyOver } from '../store/index.ts';
import { param as p, prepare } from '../store/prepared.ts';
import type { Database, JobTable } from '../store/schema.ts';
import {
  type Job,
  type JobHandler,
  type JobStatus,
  type JobView,
  type NewJob,
  RetryLater,
  type WorkQueue,
} from './queue.ts';

// The embedded queue: jobs are rows of the store's `jobs` table, claimed in-process. There is no
// polling loop: it looks at the table when woken (a job was added) and when the next delayed job is
// due. A job is claimable only when it is the oldest unfinished job of its key and no job of its
// key is active, so one key's jobs run one at a time in order_at order, never relying on retries.

export interface EmbeddedQueueOptions {
  maxAttempts?: number;
  /** An active job older than this belongs to a process that died (multi-process safety). */
  leaseMs?: number;
  now?: () => number;
  log?: Logger;
}

/** 1 s, 2 s, 4 s ... up to 5 min, with ±25 % jitter. */
export const jobBackoffMs = (attempt: number, random = Math.random) =>
  Math.round(Math.min(300_000, 1000 * 2 ** Math.max(0, attempt - 1)) * (0.75 + random() * 0.5));

/** A prepared insert for adding jobs inside a caller's transaction (the ingest worker's). */
export function prepareEnqueue(sqlite: DatabaseSync) {
  const db = kyselyOver(sqlite);
  const insert = prepare<{
    queue: string;
    key: string;
    orderAt: number;
    dedupKey: string;
    payload: string;
    now: number;
  }>(
    sqlite,
    db
      .insertInto('jobs')
      .values({
        queue: p('queue'),
        key: p('key'),
        orderAt: p('orderAt'),
        dedupKey: p('dedupKey'),
        payload: p('payload'),
        status: 'ready',
        attempts: 0,
        runAt: p('now'),
        lockedUntil: null,
        error: null,
        result: null,
        createdAt: p('now'),
        updatedAt: p('now'),
        finishedAt: null,
      })
      .onConflict((oc) => oc.column('dedupKey').doNothing()),
  );
  return (job: NewJob, now = Date.now()): boolean =>
    insert.run({ ...job, payload: JSON.stringify(job.payload), now }).changes > 0;
}

interface Worker {
  queue: string;
  handler: JobHandler;
  concurrency: number;
  running: number;
}

export class EmbeddedQueue implements WorkQueue {
  readonly #db: Kysely<Database>;
  readonly #maxAttempts: number;
  readonly #leaseMs: number;
  readonly #now: () => number;
  readonly #log: Logger | undefined;
  readonly #workers = new Map<string, Worker>();
  readonly #running = new Set<Promise<void>>();
  #pumping: Promise<void> | null = null;
  #again = false;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #recovered: Promise<void> | null = null;

  constructor(db: Kysely<Database>, options: EmbeddedQueueOptions = {}) {
    this.#db = db;
    this.#maxAttempts = options.maxAttempts ?? 8;
    this.#leaseMs = options.leaseMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
  }

  async add(jobs: NewJob[]): Promise<number> {
    if (jobs.length === 0) return 0;
    const now = this.#now();
    const result = await this.#db
      .insertInto('jobs')
      .values(
        jobs.map((j) => ({
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
        })),
      )
      .onConflict((oc) => oc.column('dedupKey').doNothing())
      .executeTakeFirst();
    this.wake();
    return Number(result.numInsertedOrUpdatedRows ?? 0);
  }

  work<P>(queue: string, handler: JobHandler<P>, options: { concurrency?: number } = {}): void {
    this.#workers.set(queue, {
      queue,
      handler: handler as JobHandler,
      concurrency: Math.max(1, options.concurrency ?? 8),
      running: 0,
    });
    this.wake();
  }

  wake(): void {
    if (this.#closed) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#pumping = this.#pump()
      .catch((err) => {
        this.#log?.error({ err }, 'queue: claiming jobs failed; trying again in 1 s');
        this.#schedule(1000);
      })
      .finally(() => {
        this.#pumping = null;
        if (this.#again) {
          this.#again = false;
          this.wake();
        }
      });
  }

  /** Jobs left active by a process that died are ready again (their attempt counted). */
  async #recover(): Promise<void> {
    const now = this.#now();
    await this.#db
      .updateTable('jobs')
      .set({ status: 'ready', runAt: now, lockedUntil: null, updatedAt: now })
      .where('status', '=', 'active')
      .where((eb) => eb.or([eb('lockedUntil', 'is', null), eb('lockedUntil', '<', now)]))
      .execute();
  }

  async #pump(): Promise<void> {
    // At the first pump, every active job is from an earlier process (this one has claimed none).
    this.#recovered ??= this.#db
      .updateTable('jobs')
      .set({ status: 'ready', runAt: this.#now(), lockedUntil: null })
      .where('status', '=', 'active')
      .execute()
      .then(() => {});
    await this.#recovered;
    for (const w of this.#workers.values()) {
      while (!this.#closed && w.running < w.concurrency) {
        const jobs = await this.#claim(w.queue, w.concurrency - w.running);
        if (jobs.length === 0) break;
        for (const job of jobs) this.#start(w, job);
      }
    }
    await this.#scheduleNext();
  }

  #start(w: Worker, job: Job) {
    w.running++;
    const run = this.#run(w, job).finally(() => {
      w.running--;
      this.#running.delete(run);
      this.wake();
    });
    this.#running.add(run);
  }

  async #run(w: Worker, job: Job): Promise<void> {
    let outcome: { ok: true; result: unknown } | { ok: false; err: unknown };
    try {
      outcome = { ok: true, result: await w.handler(job) };
    } catch (err) {
      outcome = { ok: false, err };
    }
    try {
      if (outcome.ok) await this.#finish(job, outcome.result);
      else await this.#failed(job, outcome.err);
    } catch (err) {
      // The outcome could not be recorded: the job stays active and is run again after a restart
      // or when its lease runs out (handlers are idempotent).
      this.#log?.error({ err, job: job.id }, 'queue: could not record a job outcome');
    }
  }

  /** Up to `limit` jobs of `queue` that may run now, marked active. */
  async #claim(queue: string, limit: number): Promise<Job[]> {
    const now = this.#now();
    return this.#db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('jobs as j')
        .select(['j.id', 'j.queue', 'j.key', 'j.orderAt', 'j.dedupKey', 'j.payload', 'j.attempts'])
        .where('j.queue', '=', queue)
        .where('j.status', '=', 'ready')
        .where('j.runAt', '<=', now)
        // No unfinished job of the key before this one, and none of its key running.
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('jobs as k')
                .select(sql`1`.as('one'))
                .whereRef('k.queue', '=', 'j.queue')
                .whereRef('k.key', '=', 'j.key')
                .where('k.status', 'in', ['ready', 'active'])
                .where((eb) =>
                  eb.or([
                    eb('k.status', '=', 'active'),
                    eb('k.orderAt', '<', eb.ref('j.orderAt')),
                    eb.and([eb('k.orderAt', '=', eb.ref('j.orderAt')), eb('k.id', '<', eb.ref('j.id'))]),
                  ]),
                ),
            ),
          ),
        )
        .orderBy('j.orderAt')
        .orderBy('j.id')
        .limit(limit)
        .execute();
      if (rows.length === 0) return [];
      await trx
        .updateTable('jobs')
        .set((eb) => ({
          status: 'active',
          attempts: eb('attempts', '+', 1),
          lockedUntil: now + this.#leaseMs,
          updatedAt: now,
        }))
        .where(
          'id',
          'in',
          rows.map((r) => r.id),
        )
        .execute();
      return rows.map((r) => ({
        id: Number(r.id),
        queue: r.queue,
        key: r.key,
        orderAt: Number(r.orderAt),
        dedupKey: r.dedupKey,
        payload: JSON.parse(r.payload),
        attempts: r.attempts + 1,
      }));
    });
  }

  async #finish(job: Job, result: unknown) {
    const now = this.#now();
    await this.#db
      .updateTable('jobs')
      .set({
        status: 'done',
        result: result === undefined ? null : JSON.stringify(result),
        lockedUntil: null,
        updatedAt: now,
        finishedAt: now,
      })
      .where('id', '=', job.id)
      .execute();
  }

  async #failed(job: Job, err: unknown) {
    const now = this.#now();
    if (err instanceof RetryLater) {
      // Not a failure: the attempt is given back.
      await this.#db
        .updateTable('jobs')
        .set((eb) => ({
          status: 'ready',
          runAt: now + err.ms,
          attempts: eb('attempts', '-', 1),
          lockedUntil: null,
          error: err.message,
          updatedAt: now,
        }))
        .where('id', '=', job.id)
        .execute();
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    const dead = job.attempts >= this.#maxAttempts;
    this.#log?.warn(
      { job: job.id, queue: job.queue, attempts: job.attempts, err: message },
      dead ? 'job failed for the last time: dead' : 'job failed; will retry',
    );
    await this.#db
      .updateTable('jobs')
      .set({
        status: dead ? 'dead' : 'ready',
        runAt: dead ? now : now + jobBackoffMs(job.attempts),
        lockedUntil: null,
        error: message.slice(0, 2000),
        updatedAt: now,
        finishedAt: dead ? now : null,
      })
      .where('id', '=', job.id)
      .execute();
  }

  /** Sleeps until the next delayed job (a retry, a RetryLater) is due, or a lease runs out. A due
   * job that was not claimed is blocked behind an earlier job of its key: running (its end wakes the
   * queue) or delayed (counted here), so only future times matter and nothing spins. */
  async #scheduleNext() {
    if (this.#closed || this.#workers.size === 0) return;
    const now = this.#now();
    const next = await this.#db
      .selectFrom('jobs')
      .select((eb) => eb.fn.min('runAt').as('at'))
      .where('status', '=', 'ready')
      .where('queue', 'in', [...this.#workers.keys()])
      .where('runAt', '>', now)
      .executeTakeFirst();
    const expiring = await this.#db
      .selectFrom('jobs')
      .select((eb) => eb.fn.min('lockedUntil').as('at'))
      .where('status', '=', 'active')
      .executeTakeFirst();
    const at = Math.min(
      next?.at == null ? Number.POSITIVE_INFINITY : Number(next.at),
      expiring?.at == null ? Number.POSITIVE_INFINITY : Number(expiring.at),
    );
    if (Number.isFinite(at)) this.#schedule(Math.max(at - now, 10));
  }

  #schedule(ms: number) {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(
      async () => {
        this.#timer = null;
        await this.#recover().catch(() => {});
        this.wake();
      },
      Math.min(ms, 60_000),
    );
    this.#timer.unref();
  }

  async list(filter: {
    queue?: string;
    status?: JobStatus;
    key?: string;
    limit: number;
    before?: number;
  }): Promise<JobView[]> {
    let q = this.#db.selectFrom('jobs').selectAll().orderBy('id', 'desc').limit(filter.limit);
    if (filter.queue) q = q.where('queue', '=', filter.queue);
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.key) q = q.where('key', '=', filter.key);
    if (filter.before !== undefined) q = q.where('id', '<', filter.before);
    return (await q.execute()).map(view);
  }

  async get(id: number): Promise<JobView | null> {
    const row = await this.#db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? view(row) : null;
  }

  async retry(id: number): Promise<boolean> {
    const now = this.#now();
    const done = await this.#db
      .updateTable('jobs')
      .set({ status: 'ready', attempts: 0, runAt: now, finishedAt: null, updatedAt: now })
      .where('id', '=', id)
      .where('status', '=', 'dead')
      .executeTakeFirst();
    this.wake();
    return Number(done.numUpdatedRows) > 0;
  }

  async counts(): Promise<Record<JobStatus, number>> {
    const rows = await this.#db
      .selectFrom('jobs')
      .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute();
    const counts: Record<JobStatus, number> = { ready: 0, active: 0, done: 0, dead: 0 };
    for (const r of rows) counts[r.status] = Number(r.n);
    return counts;
  }

  async idle(): Promise<void> {
    for (;;) {
      await this.#pumping;
      if (this.#running.size === 0 && !this.#pumping) return;
      await Promise.all([...this.#running]);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#pumping;
    await Promise.all([...this.#running]);
  }
}

function view(r: Selectable<JobTable>): JobView {
  return {
    id: Number(r.id),
    queue: r.queue,
    key: r.key,
    orderAt: Number(r.orderAt),
    dedupKey: r.dedupKey,
    payload: JSON.parse(r.payload),
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
