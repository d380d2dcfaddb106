import { EventEmitter } from 'node:events';
import type { MessagePort } from 'node:worker_threads';
import type { Logger } from '../log.ts';
import { writeGateFor } from '../store/write-gate.ts';
import { WorkerThread } from '../worker-thread.ts';
import type { FromProjector, ProjectorData, ToProjector } from './protocol.ts';

// The main thread's side of the projector thread (worker.ts): starts it, tells the rest of igdm what
// it applied, and keeps how far behind the event log it is, for /readyz and the logs.

export interface ProjectionEvents {
  applied: [{ events: number; conversations: string[] }];
  /** Events that could not be applied, by reason (for the metrics). */
  unapplied: [Record<string, number>];
  error: [Error];
}

export interface ApplyFailure {
  /** When applying started to fail. */
  since: number;
  message: string;
}

export interface Backlog {
  /** Stored events not applied yet. */
  events: number;
  /** How long the oldest of them has waited. */
  lagMs: number;
}

/** What the rest of igdm sees of the projection: this thread, or PostgreSQL's loop (postgres-projection.ts). */
export interface Projection {
  readonly applyFailure: ApplyFailure | null;
  readonly backlog: Backlog;
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
  on<K extends keyof ProjectionEvents>(event: K, listener: (...args: ProjectionEvents[K]) => void): this;
}

/** A projection this far behind is reported in the logs, and past LAG_NOT_READY_MS by /readyz. */
const LAG_WARN_MS = 5_000;
export const LAG_NOT_READY_MS = 60_000;
const WARN_EVERY_MS = 10_000;
/** Past this many distinct reasons, new ones are no longer logged (the metric still counts them). */
const MAX_LOGGED_REASONS = 1000;

export class ProjectionThread extends EventEmitter<ProjectionEvents> implements Projection {
  readonly #thread: WorkerThread<ToProjector, FromProjector>;
  readonly #log: Logger;
  #failure: ApplyFailure | null = null;
  #backlog: Backlog = { events: 0, lagMs: 0 };
  #warnedAt = 0;
  /** Reasons of unapplied events already logged: each is logged once, not once per event. */
  readonly #loggedReasons = new Set<string>();

  /** `stored`: where the ingest worker says that it stored events. */
  constructor(sqlitePath: string, stored: MessagePort, log: Logger) {
    super();
    this.#log = log;
    const workerData: ProjectorData = { sqlitePath, gate: writeGateFor(sqlitePath).buffer, stored };
    this.#thread = new WorkerThread(
      new URL('./worker.ts', import.meta.url),
      { name: 'projector', workerData, transferList: [stored] },
      {
        onMessage: (msg) => this.#receive(msg),
        onDeath: (err) => {
          if (this.listenerCount('error')) this.emit('error', err);
        },
      },
    );
  }

  /** Applying has failed since, and is being retried; null while it works. */
  get applyFailure(): ApplyFailure | null {
    return this.#failure;
  }

  /** How far behind the event log the projection is (as last reported, within a second). */
  get backlog(): Backlog {
    return this.#backlog;
  }

  #noteUnapplied(byReason: Record<string, number>) {
    this.emit('unapplied', byReason);
    for (const [reason, events] of Object.entries(byReason)) {
      if (this.#loggedReasons.has(reason) || this.#loggedReasons.size >= MAX_LOGGED_REASONS) continue;
      this.#loggedReasons.add(reason);
      this.#log.warn(
        { reason, events },
        'stored webhook events could not be applied (logged once per reason; GET /v1/webhook-events?status=unapplied lists them)',
      );
    }
  }

  #receive(msg: FromProjector) {
    switch (msg.type) {
      case 'applied':
        this.emit('applied', { events: msg.events, conversations: msg.conversations });
        if (Object.keys(msg.unapplied).length > 0) this.#noteUnapplied(msg.unapplied);
        break;
      case 'backlog':
        this.#noteBacklog(msg);
        break;
      case 'apply-failed':
        this.#failure = { since: this.#failure?.since ?? Date.now(), message: msg.message };
        this.#log.error(
          { reason: msg.message, retryInMs: msg.retryInMs },
          'stored events could not be applied',
        );
        break;
      case 'apply-recovered':
        this.#log.info(
          { since: new Date(this.#failure?.since ?? Date.now()) },
          'applying stored events works again',
        );
        this.#failure = null;
        break;
      case 'error':
        this.emit('error', new Error(msg.message));
        break;
    }
  }

  #noteBacklog(backlog: Backlog) {
    const was = this.#backlog;
    this.#backlog = backlog;
    const now = Date.now();
    if (backlog.lagMs >= LAG_WARN_MS && now - this.#warnedAt >= WARN_EVERY_MS) {
      this.#warnedAt = now;
      this.#log.warn(backlog, 'the projection is behind the event log: conversations show events late');
    } else if (backlog.events === 0 && this.#warnedAt > 0 && was.events > 0) {
      this.#warnedAt = 0;
      this.#log.info('the projection has caught up with the event log');
    }
  }

  /** True when the thread answers within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<boolean> {
    return this.#thread.ping(timeoutMs);
  }

  /** Applies what is stored (for a moment at most), then stops the thread. Call after the ingest worker closed. */
  close(): Promise<void> {
    return this.#thread.close();
  }
}
