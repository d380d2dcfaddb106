import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';
import { EmbeddedJobAdmin } from './job-admin.ts';
import { status } from './job-statements.ts';
import type { JobStatus } from './queue.ts';

// The PostgreSQL queue's admin side: the embedded one's queries are plain Kysely and run on
// PostgreSQL as they are, but for the counts, which the embedded queue runs as statements compiled
// for SQLite.

export class PostgresJobAdmin extends EmbeddedJobAdmin {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>, now: () => number) {
    super(db, now);
    this.#db = db;
  }

  /** One count per status, each over its status's partial index (a literal status, see job-statements.ts). */
  override async counts(): Promise<Record<JobStatus, number>> {
    const counts: Record<JobStatus, number> = { ready: 0, active: 0, done: 0, dead: 0 };
    for (const s of Object.keys(counts) as JobStatus[]) {
      let q = this.#db.selectFrom('jobs').select((eb) => eb.fn.countAll<number>().as('n'));
      if (s === 'done' || s === 'dead') q = q.where('status', 'in', [status('done'), status('dead')]);
      const row = await q.where('status', '=', status(s)).executeTakeFirst();
      counts[s] = Number(row?.n ?? 0);
    }
    return counts;
  }
}
