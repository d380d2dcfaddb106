import { EventEmitter } from 'node:events';
import type { MessagePort } from 'node:worker_threads';
import { writeGateFor } from '../store/write-gate.ts';
import { WorkerThread } from '../worker-thread.ts';
import type {
  ChannelRoute,
  FromWorker,
  ToWorker,
  WorkerData,
  WriteRequest,
  WriteResult,
} from './protocol.ts';

// The HTTP thread's side of the ingest worker: hands bodies over and resolves when they are on disk.

export interface IngestWriterEvents {
  error: [Error];
}

/** Where the webhook routes and the backfill store bodies: this worker, or PostgreSQL's (postgres-writer.ts). */
export interface WebhookWriter {
  /** Resolves once the body's events are durably stored (or refused). Never rejects. */
  write(req: Omit<WriteRequest, 'type' | 'id'>): Promise<WriteResult>;
  setRoutes(routes: ChannelRoute[]): void;
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): this;
}

export class IngestWriter extends EventEmitter<IngestWriterEvents> implements WebhookWriter {
  readonly #thread: WorkerThread<ToWorker, FromWorker>;
  readonly #pending = new Map<number, (r: WriteResult) => void>();
  #nextId = 1;

  /** `stored`: where the worker says that it stored new events (the projector listens). */
  constructor(sqlitePath: string, routes: ChannelRoute[], stored: MessagePort) {
    super();
    const workerData: WorkerData = { sqlitePath, routes, gate: writeGateFor(sqlitePath).buffer, stored };
    this.#thread = new WorkerThread(
      new URL('./worker.ts', import.meta.url),
      { name: 'ingest worker', workerData, transferList: [stored] },
      { onMessage: (msg) => this.#receive(msg), onDeath: (err) => this.#fail(err) },
    );
  }

  #receive(msg: FromWorker) {
    if (msg.type === 'written') {
      this.#pending.get(msg.id)?.(msg.result);
      this.#pending.delete(msg.id);
    } else if (msg.type === 'error') {
      this.emit('error', new Error(msg.message));
    }
  }

  #fail(err: Error) {
    for (const resolve of this.#pending.values()) resolve({ status: 'failed', reason: err.message });
    this.#pending.clear();
    if (this.listenerCount('error')) this.emit('error', err);
  }

  /** Resolves once the body's events are durably stored (or refused). Never rejects. */
  write(req: Omit<WriteRequest, 'type' | 'id'>): Promise<WriteResult> {
    const down = this.#thread.dead ?? (this.#thread.closing ? new Error('shutting down') : null);
    if (down) return Promise.resolve({ status: 'failed', reason: down.message });
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#thread.post({ type: 'write', id, ...req });
    });
  }

  setRoutes(routes: ChannelRoute[]) {
    this.#thread.post({ type: 'channels', routes });
  }

  /** True when the worker answers within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<boolean> {
    return this.#thread.ping(timeoutMs);
  }

  /** Finishes the writes already handed over, then stops the worker. */
  close(): Promise<void> {
    return this.#thread.close();
  }
}
