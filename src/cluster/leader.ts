import pg from 'pg';
import type { Logger } from '../log.ts';

// The leader among the processes that run workers on one PostgreSQL database: the one holding a
// session advisory lock on a connection of its own. The periodic tasks that must run once per
// deployment (roles.ts: the webhooks' dispatcher, the token keeper, backfill, approval expiry) run
// in the leader only. The others try for the lock every `retryMs`; the lock goes with its
// connection, so when the leader's process dies (or its connection does) PostgreSQL releases it and
// one of them takes over within `retryMs`. The leader checks its connection as often: on a failure
// it stops its tasks, since another process may hold the lock by then. Two leaders can overlap for
// at most that long; each task is safe to run twice at once (docs/postgres.md, Roles).

/** The advisory lock's key (one 64-bit number; the migrations' lock uses another). */
export const LEADER_LOCK = 0x1964_6c65_6164; // "igdm" + "lead"

export interface LeaderOptions {
  connection: string;
  /** Became the leader: start the tasks. */
  lead: () => Promise<void>;
  /** No longer the leader (connection lost, or closing): stop them; resolves when they have. */
  yieldLead: () => Promise<void>;
  /** How often a follower tries for the lock and the leader checks its connection (default 3 s). */
  retryMs?: number;
  log: Logger;
}

export class Leader {
  readonly #o: LeaderOptions;
  #client: pg.Client | null = null;
  #leading = false;
  #closed = false;
  #timer: NodeJS.Timeout | null = null;
  #turn: Promise<void> = Promise.resolve();

  constructor(options: LeaderOptions) {
    this.#o = options;
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Tries now (resolves after this first try), then every retryMs. */
  start(): Promise<void> {
    this.#step();
    return this.#turn;
  }

  #step(): void {
    this.#turn = this.#turn.then(() => this.#attempt()).catch(() => {});
    void this.#turn.then(() => {
      if (this.#closed) return;
      this.#timer = setTimeout(() => this.#step(), this.#o.retryMs ?? 3000);
      this.#timer.unref();
    });
  }

  async #attempt(): Promise<void> {
    if (this.#closed) return;
    try {
      if (!this.#client) this.#client = await this.#connect();
      if (this.#leading) {
        await this.#client.query('select 1');
        return;
      }
      const { rows } = await this.#client.query<{ got: boolean }>('select pg_try_advisory_lock($1) as got', [
        LEADER_LOCK,
      ]);
      if (rows[0]?.got && !this.#closed) {
        this.#leading = true;
        this.#o.log.info('leader: this process runs the periodic tasks');
        await this.#o.lead();
      }
    } catch (err) {
      await this.#lost(err as Error);
    }
  }

  async #connect(): Promise<pg.Client> {
    // A check that gets no answer (the server unreachable, no reset) fails after a while like a lost
    // connection, instead of keeping this process leading blind.
    const client = new pg.Client({
      connectionString: this.#o.connection,
      connectionTimeoutMillis: 5000,
      query_timeout: 5000,
      keepAlive: true,
    });
    // A connection that fails between checks is found by the next one; this keeps the error from
    // being thrown out of the process meanwhile.
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => {});
      throw err;
    }
    return client;
  }

  async #lost(err: Error): Promise<void> {
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
    if (!this.#leading) return;
    this.#leading = false;
    this.#o.log.warn({ err }, 'leader: lost the connection that holds the lock; stopping the periodic tasks');
    await this.#o.yieldLead();
  }

  /** Stops the tasks (if leading) and gives the lock up for another process to take. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#turn;
    if (this.#leading) {
      this.#leading = false;
      await this.#o.yieldLead();
    }
    await this.#client?.end().catch(() => {});
    this.#client = null;
  }
}
