import { EventEmitter } from 'node:events';
import { type MessagePort, Worker } from 'node:worker_threads';
import type { Logger } from '../log.ts';
import { writeGateFor } from '../store/write-gate.ts';
import type { FromProjector, ProjectorData, ToProjector } from './protocol.ts';

// The main thread's side of the projector thread (worker.ts): starts it, tells the rest of igdm what
// it applied, and keeps how far behind the event log it is, for /readyz and the logs.

export interface ProjectionEvents {
  applied: [{ events: number; conversations: string[] }];
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

/** A projection this far behind is reported in the logs, and past LAG_NOT_READY_MS by /readyz. */
const LAG_WARN_MS = 5_000;
export const LAG_NOT_READY_MS = 60_000;
const WARN_EVERY_MS = 10_000;

export class ProjectionThread extends EventEmitter<ProjectionEvents> {
  readonly #worker: Worker;
  readonly #log: Logger;
  readonly #pings = new Map<number, () => void>();
  #nextId = 1;
  #closed: Promise<void> | null = null;
  #dead: Error | null = null;
  #failure: ApplyFailure | null = null;
  #backlog: Backlog = { events: 0, lagMs: 0 };
  #warnedAt = 0;

  /** `stored`: where the ingest worker says that it stored events. */
  constructor(sqlitePath: string, stored: MessagePort, log: Logger) {
    super();
    this.#log = log;
    const workerData: ProjectorData = { sqlitePath, gate: writeGateFor(sqlitePath).buffer, stored };
    this.#worker = new Worker(new URL('./worker.ts', import.meta.url), {
      workerData,
      transferList: [stored],
    });
    this.#worker.on('message', (msg: FromProjector) => this.#receive(msg));
    this.#worker.on('error', (err) => this.#fail(err));
    this.#worker.on('exit', (code) => {
      if (!this.#closed) this.#fail(new Error(`the projector stopped (exit code ${code})`));
    });
  }

  /** Applying has failed since, and is being retried; null while it works. */
  get applyFailure(): ApplyFailure | null {
    return this.#failure;
  }

  /** How far behind the event log the projection is (as last reported, within a second). */
  get backlog(): Backlog {
    return this.#backlog;
  }

  #receive(msg: FromProjector) {
    switch (msg.type) {
      case 'applied':
        this.emit('applied', { events: msg.events, conversations: msg.conversations });
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
      case 'pong':
        this.#pings.get(msg.id)?.();
        this.#pings.delete(msg.id);
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

  #fail(err: Error) {
    this.#dead = err;
    if (this.listenerCount('error')) this.emit('error', err);
  }

  /** True when the thread answers within `timeoutMs`. */
  async ping(timeoutMs = 1000): Promise<boolean> {
    if (this.#dead || this.#closed) return false;
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pings.delete(id);
        resolve(false);
      }, timeoutMs);
      this.#pings.set(id, () => {
        clearTimeout(timer);
        resolve(true);
      });
      this.#post({ type: 'ping', id });
    });
  }

  #post(msg: ToProjector) {
    this.#worker.postMessage(msg);
  }

  /** Applies what is stored (for a moment at most), then stops the thread. Call after the ingest worker closed. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      if (this.#dead) {
        void this.#worker.terminate().then(() => resolve());
        return;
      }
      this.#worker.once('exit', () => resolve());
      this.#post({ type: 'close' });
    });
    return this.#closed;
  }
}
