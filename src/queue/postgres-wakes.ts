import pg from 'pg';
import type { Logger } from '../log.ts';
import { WAKE_CHANNEL } from './postgres-statements.ts';

// Wake-ups across processes: one connection of its own LISTENs on the queue's channel (a pooled
// connection cannot: it goes back to the pool between queries). A notification names a queue with
// jobs to look at: added (enqueue notifies in the adding transaction, so only once it commits),
// retried, made due now, or freed by a process that stopped. A lost connection is opened again with
// backoff; while it is down, and for whatever a notification cannot say, the queue polls.

export interface WakeListenerOptions {
  /** Where to connect (DATABASE_URL, or pg's client settings). */
  connection: string | pg.ClientConfig;
  /** The channel to LISTEN on (default the queue's). */
  channel?: string;
  /** A notification arrived for `queue`; or null: wake-ups may have been missed (reconnected). */
  onWake: (queue: string | null) => void;
  log?: Logger;
}

const MAX_BACKOFF_MS = 30_000;

export class WakeListener {
  readonly #options: WakeListenerOptions;
  #client: pg.Client | null = null;
  #closed = false;
  #backoffMs = 250;
  #retry: NodeJS.Timeout | null = null;
  #listening = false;
  readonly #channel: string;
  constructor(options: WakeListenerOptions) {
    this.#options = options;
    this.#channel = options.channel ?? WAKE_CHANNEL;
    void this.#connect();
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const config = this.#options.connection;
    // Keepalive: a connection that died silently would otherwise look like one with nothing to say.
    const client = new pg.Client({
      ...(typeof config === 'string' ? { connectionString: config } : config),
      keepAlive: true,
    });
    const lost = (err?: Error) => {
      if (this.#client !== client) return;
      this.#client = null;
      this.#listening = false;
      client.end().catch(() => {});
      if (this.#closed) return;
      this.#options.log?.warn(
        { err, channel: this.#channel },
        'lost the wake-up connection (LISTEN); polling until it is back',
      );
      this.#schedule();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (n) => {
      if (n.channel === this.#channel) this.#options.onWake(n.payload ?? null);
    });
    try {
      this.#client = client;
      await client.connect();
      await client.query(`listen ${this.#channel}`);
      if (this.#closed) {
        await client.end();
        return;
      }
      this.#backoffMs = 250;
      this.#listening = true;
      // What was notified while no one listened is lost: look at every queue.
      this.#options.onWake(null);
    } catch (err) {
      if (this.#client === client) lost(err as Error);
    }
  }

  #schedule() {
    if (this.#retry || this.#closed) return;
    const ms = this.#backoffMs;
    this.#backoffMs = Math.min(MAX_BACKOFF_MS, ms * 2);
    this.#retry = setTimeout(() => {
      this.#retry = null;
      void this.#connect();
    }, ms);
    this.#retry.unref();
  }

  /** LISTENing now: every notification from now on arrives. */
  get listening(): boolean {
    return this.#listening;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listening = false;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
  }
}
