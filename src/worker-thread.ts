import { type TransferListItem, Worker } from 'node:worker_threads';

// The main thread's end of one of igdm's worker threads (the ingest worker, the projector): starts
// it, answers whether it is alive (ping), notices when it dies, and stops it. Each thread answers
// `{ type: 'ping', id }` with `{ type: 'pong', id }` and stops at `{ type: 'close' }`.

type Message = { type: string };

export class WorkerThread<To extends Message, From extends Message> {
  readonly #worker: Worker;
  readonly #name: string;
  readonly #pings = new Map<number, () => void>();
  #nextPing = 1;
  #closed: Promise<void> | null = null;
  #dead: Error | null = null;

  /** `onMessage` gets every message but pongs; `onDeath` is told once if the thread dies. */
  constructor(
    script: URL,
    options: { name: string; workerData: unknown; transferList?: TransferListItem[] },
    handlers: { onMessage: (msg: From) => void; onDeath: (err: Error) => void },
  ) {
    this.#name = options.name;
    this.#worker = new Worker(script, { workerData: options.workerData, transferList: options.transferList });
    this.#worker.on('message', (msg: From | { type: 'pong'; id: number }) => {
      if (msg.type !== 'pong') return handlers.onMessage(msg as From);
      const id = (msg as { id: number }).id;
      this.#pings.get(id)?.();
      this.#pings.delete(id);
    });
    const die = (err: Error) => {
      this.#dead ??= err;
      handlers.onDeath(err);
    };
    this.#worker.on('error', die);
    this.#worker.on('exit', (code) => {
      if (!this.#closed) die(new Error(`the ${this.#name} stopped (exit code ${code})`));
    });
  }

  /** Why the thread died, or null. */
  get dead(): Error | null {
    return this.#dead;
  }

  /** Closing or closed. */
  get closing(): boolean {
    return this.#closed !== null;
  }

  post(msg: To): void {
    this.#worker.postMessage(msg);
  }

  /** True when the thread answers within `timeoutMs`. */
  ping(timeoutMs = 1000): Promise<boolean> {
    if (this.#dead || this.#closed) return Promise.resolve(false);
    const id = this.#nextPing++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pings.delete(id);
        resolve(false);
      }, timeoutMs);
      this.#pings.set(id, () => {
        clearTimeout(timer);
        resolve(true);
      });
      this.#worker.postMessage({ type: 'ping', id });
    });
  }

  /** Asks the thread to finish and stop (a dead one is terminated); resolves once it has exited. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      if (this.#dead) {
        void this.#worker.terminate().then(() => resolve());
        return;
      }
      this.#worker.once('exit', () => resolve());
      this.#worker.postMessage({ type: 'close' });
    });
    return this.#closed;
  }
}
