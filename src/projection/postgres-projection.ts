import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import { STORED_CHANNEL } from '../ingest/postgres-writer.ts';
import type { Logger } from '../log.ts';
import { WakeListener } from '../queue/postgres-wakes.ts';
import type { Database } from '../store/schema.ts';
import { type EnqueueIn, PostgresProjector } from './postgres-projector.ts';
import type { ApplyFailure, Backlog, Projection, ProjectionEvents } from './thread.ts';

// The projection loop on PostgreSQL (thread.ts and worker.ts on SQLite): applies stored events in
// batches while there are any, in whichever process holds the projection's lock
// (postgres-projector.ts). It looks when this process stored events, when another one did
// (LISTEN on STORED_CHANNEL), and every POLL_MS: the lock's holder may have died mid-batch.
//
// With several processes, every one hears every notification, and all but one would find the lock
// taken: three round trips each, for every webhook. So a process that found it taken stands by: it
// looks only every POLL_MS until a batch of its own gets the lock (the other stopped, or was between
// batches at that moment), and then follows the notifications again.
//
// A process can also be a fallback (`fallbackAfterMs`: the workers, when web processes store and
// apply what they receive): it neither listens nor takes the lock while events are applied in time;
// at each poll it looks how long the oldest unapplied event has waited, and applies only past that
// (no process applies them: the web processes stopped), or when it stored events itself (backfill).
// Taking the lock at every poll would make the process applying stand by for a poll now and then.

const BATCH = { maxEvents: 200, budgetMs: 100 };
const POLL_MS = 500;
const BACKLOG_EVERY_MS = 1000;
const LAG_WARN_MS = 5_000;
const RETRY_FIRST_MS = 100;
const RETRY_LAST_MS = 5_000;

export interface PostgresProjectionOptions {
  enqueue: EnqueueIn;
  /** Where to LISTEN for events other processes stored (DATABASE_URL); without it, polling only. */
  listen?: string;
  /**
   * This process in the notifications of the events it stored (PostgresIngestWriter's): it looked
   * at once when it stored them (wake()), and a second look, when its own notification came back,
   * was most often a batch with nothing in it.
   */
  origin?: string;
  /** Apply only events that have waited this long (and those this process stored): a fallback. */
  fallbackAfterMs?: number;
  log: Logger;
}

export class PostgresProjection extends EventEmitter<ProjectionEvents> implements Projection {
  readonly #projector: PostgresProjector;
  readonly #log: Logger;
  readonly #listener: WakeListener | null;
  readonly #fallbackAfterMs: number | null;
  /** This process stored events since the last look (a fallback applies those at once). */
  #stored = false;
  #backlog: Backlog = { events: 0, lagMs: 0 };
  #failure: ApplyFailure | null = null;
  #wanted = true;
  /** Another process held the lock at the last look: look every POLL_MS only. */
  #standingBy = false;
  #closed = false;
  #wake: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  #backlogAt = 0;
  #warnedAt = 0;

  constructor(db: Kysely<Database>, options: PostgresProjectionOptions) {
    super();
    this.#projector = new PostgresProjector(db, options.enqueue);
    this.#log = options.log;
    this.#fallbackAfterMs = options.fallbackAfterMs ?? null;
    this.#listener = options.listen
      ? new WakeListener({
          connection: options.listen,
          channel: STORED_CHANNEL,
          onWake: (payload) => {
            if (payload === null || payload !== options.origin) this.wake();
          },
          log: options.log,
        })
      : null;
  }

  get applyFailure(): ApplyFailure | null {
    return this.#failure;
  }

  get backlog(): Backlog {
    return this.#backlog;
  }

  /** Starts applying (what earlier runs left is applied first). */
  start() {
    this.#loop ??= this.#run().catch((err: unknown) => {
      if (this.listenerCount('error')) this.emit('error', err as Error);
    });
  }

  /** Events were stored: look now (standing by, at the next poll). */
  wake() {
    this.#wanted = true;
    this.#stored = true;
    if (!this.#standingBy) this.#wake?.();
  }

  #recovered() {
    if (!this.#failure) return;
    this.#log.info({ since: new Date(this.#failure.since) }, 'applying stored events works again');
    this.#failure = null;
  }

  /** A fallback's look: whether events wait that no other process applies (or this one stored some). */
  async #due(draining: boolean): Promise<boolean> {
    if (this.#fallbackAfterMs === null || this.#stored || draining) return true;
    await this.#noteBacklog(true);
    return this.#backlog.events > 0 && this.#backlog.lagMs >= this.#fallbackAfterMs;
  }

  async #run() {
    let retryMs = RETRY_FIRST_MS;
    let draining = false; // a batch left more: the next needs no look first
    while (!this.#closed) {
      if (this.#wanted) {
        this.#wanted = false;
        try {
          if (!(await this.#due(draining))) {
            // The store answers, and the events are applied in time (elsewhere).
            this.#recovered();
            retryMs = RETRY_FIRST_MS;
            await this.#sleep(POLL_MS);
            this.#wanted = true;
            continue;
          }
          this.#stored = false;
          const r = await this.#projector.applyPending(BATCH);
          this.#standingBy = r.busy;
          this.#recovered();
          retryMs = RETRY_FIRST_MS;
          if (r.events > 0) this.emit('applied', { events: r.events, conversations: r.conversations });
          if (Object.keys(r.unapplied).length > 0) this.emit('unapplied', r.unapplied);
          if (r.more) this.#wanted = true;
          draining = r.more;
          await this.#noteBacklog();
        } catch (err) {
          const message = (err as Error).message;
          this.#failure = { since: this.#failure?.since ?? Date.now(), message };
          this.#log.error({ reason: message, retryInMs: retryMs }, 'stored events could not be applied');
          await this.#sleep(retryMs);
          retryMs = Math.min(RETRY_LAST_MS, retryMs * 2);
          this.#wanted = true;
          continue;
        }
        if (this.#wanted && !this.#standingBy) continue;
      }
      await this.#sleep(POLL_MS);
      this.#wanted = true;
    }
  }

  /** Reads the backlog (at most every BACKLOG_EVERY_MS unless `force`), and warns when it is behind. */
  async #noteBacklog(force = false) {
    const now = Date.now();
    if (!force && now - this.#backlogAt < BACKLOG_EVERY_MS) return;
    this.#backlogAt = now;
    this.#backlog = await this.#projector.backlog(now);
    if (this.#backlog.lagMs >= LAG_WARN_MS && now - this.#warnedAt >= 10_000) {
      this.#warnedAt = now;
      this.#log.warn(this.#backlog, 'the projection is behind the event log: conversations show events late');
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = null;
        done();
      };
    });
  }

  /** True while the loop runs. */
  async ping(): Promise<boolean> {
    return !this.#closed && this.#loop !== null;
  }

  /** Ends the batch under way and stops (the rest is applied by another process, or at the next start). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    await this.#loop;
    await this.#listener?.close();
  }
}
