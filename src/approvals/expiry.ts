import type { Kysely } from 'kysely';
import type { Logger } from '../log.ts';
import type { JobQueue } from '../queue/queue.ts';
import { expiredPending } from '../store/approvals.ts';
import type { Database } from '../store/schema.ts';
import { decideApproval } from './decide.ts';

// Expiry: a sweep decides `expired` every pending approval whose time has run out, as an answer
// would decide it (callback, event). Its state is the approvals table, so a restart changes nothing:
// the first sweep runs at start, and what ran out while igdm was down is decided then. The time is
// the policy clock (tests move it); the sweep's own pace is operational time.

const BATCH = 100;

export interface ExpiryDeps {
  db: Kysely<Database>;
  jobs: Pick<JobQueue, 'enqueue' | 'wake'>;
  log: Logger;
  now: () => number;
  /** How often it looks (default every second). */
  everyMs?: number;
}

export class ApprovalExpiry {
  readonly #d: ExpiryDeps;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;

  constructor(deps: ExpiryDeps) {
    this.#d = deps;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.#tick(), this.#d.everyMs ?? 1000).unref();
    this.#tick();
  }

  /** Stops looking; resolves once a sweep in progress has finished. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  /** Decides what has run out by now; answers how many. */
  async sweep(): Promise<number> {
    const { db, jobs, now } = this.#d;
    let decided = 0;
    for (;;) {
      const at = now();
      const ids = await expiredPending(db, at, BATCH);
      for (const id of ids) {
        const made = await decideApproval(
          db,
          jobs,
          id,
          { status: 'expired', respondedBy: null, respondedAt: null, decidedBy: 'expiry' },
          at,
        );
        if (made) decided++;
      }
      if (ids.length < BATCH) return decided;
    }
  }

  #tick(): void {
    if (this.#running) return;
    this.#running = this.sweep()
      .then((n) => {
        if (n > 0) this.#d.log.info({ approvals: n }, 'approvals expired');
      })
      .catch((err: unknown) => this.#d.log.error({ err }, 'approval expiry sweep failed'))
      .finally(() => {
        this.#running = null;
      });
  }
}
