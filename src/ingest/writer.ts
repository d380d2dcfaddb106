import { EventEmitter } from 'node:events';
import { type MessagePort, Worker } from 'node:worker_threads';
import { writeGateFor } from '../store/write-gate.ts';
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

export class IngestWriter extends EventEmitter<IngestWriterEvents> {
  readonly #worker: Worker;
  readonly #pending = new Map<number, (r: WriteResult) => void>();
  readonly #pings = new Map<number, () => void>();
  #nextId = 1;
  #closed: Promise<void> | null = null;
  #dead: Error | null = null;

  /** `stored`: where the worker says that it stored new events (the projector listens). */
  constructor(sqlitePath: string, routes: ChannelRoute[], stored: MessagePort) {
    super();
    const workerData: WorkerData = { sqlitePath, routes, gate: writeGateFor(sqlitePath).buffer, stored };
    this.#worker = new Worker(new URL('./worker.ts', import.meta.url), {
      workerData,
      transferList: [stored],
    });
    this.#worker.on('message', (msg: FromWorker) => this.#receive(msg));
    this.#worker.on('error', (err) => this.#fail(err));
    this.#worker.on('exit', (code) => {
      if (!this.#closed) this.#fail(new Error(`the ingest worker stopped (exit code ${code})`));
    });
  }

  #receive(msg: FromWorker) {
    if (msg.type === 'written') {
      this.#pending.get(msg.id)?.(msg.result);
      this.#pending.delete(msg.id);
    } else if (msg.type === 'pong') {
      this.#pings.get(msg.id)?.();
      this.#pings.delete(msg.id);
    } else if (msg.type === 'error') {
      this.emit('error', new Error(msg.message));
    }
  }

  #fail(err: Error) {
    this.#dead = err;
    for (const resolve of this.#pending.values()) resolve({ status: 'failed', reason: err.message });
    this.#pending.clear();
    if (this.listenerCount('error')) this.emit('error', err);
  }

  #post(msg: ToWorker) {
    this.#worker.postMessage(msg);
  }

  /** Resolves once the body's events are durably stored (or refused). Never rejects. */
  write(req: Omit<WriteRequest, 'type' | 'id'>): Promise<WriteResult> {
    if (this.#dead || this.#closed) {
      return Promise.resolve({ status: 'failed', reason: this.#dead?.message ?? 'shutting down' });
    }
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#post({ type: 'write', id, ...req });
    });
  }

  setRoutes(routes: ChannelRoute[]) {
    this.#post({ type: 'channels', routes });
  }

  /** True when the worker answers within `timeoutMs`. */
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

  /** Finishes the writes already handed over, then stops the worker. */
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
