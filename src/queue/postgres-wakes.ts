import pg from 'pg';
import type { Logger } from '../log.ts';
import { WAKE_CHANNEL } from './postgres-statements.ts';

// Wake-ups across processes: a connection of its own LISTENs (a pooled connection cannot: it goes
// back to the pool between queries). A notification names a queue with jobs to look at (added:
// enqueue notifies in the adding transaction, so only once it commits, except in the queues the
// adding process works while it listens and is not closing; retried, made due now, or freed by a
// process that stopped), or what else its channel carries. A lost connection is opened
// again with backoff; while it is down, and for whatever a notification cannot say, the listeners
// poll or read again.
//
// One connection per process and database, whatever the number of channels: PostgreSQL wakes every
// LISTENing connection of the database at each NOTIFY's commit, whichever channel it listens on, so
// each connection more is one more process woken for every webhook and job (bench/scale measured
// six of them per worker and web pair before they shared one).

export interface WakeListenerOptions {
  /** Where to connect (DATABASE_URL, or pg's client settings). */
  connection: string | pg.ClientConfig;
  /** The channel to LISTEN on (default the queue's). */
  channel?: string;
  /** A notification arrived, with its payload; or null: LISTEN is on (again), wake-ups may have been missed. */
  onWake: (payload: string | null) => void;
  log?: Logger;
}

const MAX_BACKOFF_MS = 30_000;

/** A channel listened to through the process's shared connection to its database. */
export class WakeListener {
  readonly channel: string;
  readonly onWake: (payload: string | null) => void;
  readonly log: Logger | undefined;
  /** LISTEN on this channel is on: every notification from now on arrives. */
  listening = false;
  readonly #connection: SharedConnection;

  constructor(options: WakeListenerOptions) {
    this.channel = options.channel ?? WAKE_CHANNEL;
    this.onWake = options.onWake;
    this.log = options.log;
    this.#connection = SharedConnection.of(options.connection);
    this.#connection.add(this);
  }

  async close(): Promise<void> {
    this.listening = false;
    await this.#connection.remove(this);
  }
}

/** A listener told of a notification (null: look at everything); its failure is its own. */
function tell(l: WakeListener, payload: string | null): void {
  try {
    l.onWake(payload);
  } catch (err) {
    l.log?.error({ err, channel: l.channel }, 'a wake-up could not be handled');
  }
}

/** The LISTEN connection of this process to one database, shared by its channels' listeners. */
class SharedConnection {
  static readonly #open = new Map<string, SharedConnection>();

  static of(config: string | pg.ClientConfig): SharedConnection {
    const key = typeof config === 'string' ? config : JSON.stringify(config);
    let c = SharedConnection.#open.get(key);
    if (!c) {
      const made: SharedConnection = new SharedConnection(config, () => {
        if (SharedConnection.#open.get(key) === made) SharedConnection.#open.delete(key);
      });
      c = made;
      SharedConnection.#open.set(key, c);
    }
    return c;
  }

  readonly #config: string | pg.ClientConfig;
  readonly #closed: () => void;
  readonly #listeners = new Set<WakeListener>();
  #client: pg.Client | null = null;
  /** The client is connected: listeners added now LISTEN at once. */
  #ready = false;
  /** The channels LISTENed on this client (or being), each with its LISTEN's answer. */
  #channels = new Map<string, Promise<unknown>>();
  #backoffMs = 250;
  #retry: NodeJS.Timeout | null = null;

  private constructor(config: string | pg.ClientConfig, closed: () => void) {
    this.#config = config;
    this.#closed = closed;
  }

  add(l: WakeListener): void {
    this.#listeners.add(l);
    if (this.#ready) void this.#listen(this.#client!, [l]);
    else if (!this.#client && !this.#retry) void this.#connect();
  }

  async remove(l: WakeListener): Promise<void> {
    if (!this.#listeners.delete(l) || this.#listeners.size > 0) return; // a channel no one hears any more is left on: harmless
    this.#closed();
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    const client = this.#client;
    this.#client = null;
    this.#ready = false;
    await client?.end().catch(() => {});
  }

  get #log(): Logger | undefined {
    for (const l of this.#listeners) if (l.log) return l.log;
    return undefined;
  }

  async #connect(): Promise<void> {
    if (this.#listeners.size === 0) return;
    const config = this.#config;
    // Keepalive: a connection that died silently would otherwise look like one with nothing to say.
    const client = new pg.Client({
      ...(typeof config === 'string' ? { connectionString: config } : config),
      keepAlive: true,
    });
    const lost = (err?: Error) => {
      if (this.#client !== client) return;
      this.#client = null;
      this.#ready = false;
      for (const l of this.#listeners) l.listening = false;
      client.end().catch(() => {});
      if (this.#listeners.size === 0) return;
      this.#log?.warn(
        { err, channels: [...new Set([...this.#listeners].map((l) => l.channel))] },
        'lost the wake-up connection (LISTEN); polling until it is back',
      );
      this.#schedule();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (n) => {
      if (this.#client !== client) return;
      for (const l of this.#listeners) if (l.listening && l.channel === n.channel) tell(l, n.payload ?? null);
    });
    try {
      this.#client = client;
      this.#channels = new Map();
      await client.connect();
      if (this.#client !== client) {
        await client.end();
        return;
      }
      this.#ready = true;
      // Reset only once LISTEN is on: a server that refuses it is asked less and less often.
      if (await this.#listen(client, [...this.#listeners])) this.#backoffMs = 250;
    } catch (err) {
      if (this.#client === client) lost(err as Error);
    }
  }

  /** LISTENs for `listeners` (their channels not on yet, in one statement), then tells each; whether it could. */
  async #listen(client: pg.Client, listeners: WakeListener[]): Promise<boolean> {
    const fresh = [...new Set(listeners.map((l) => l.channel))].filter((c) => !this.#channels.has(c));
    if (fresh.length > 0) {
      const answer = client.query(fresh.map((c) => `listen ${c}`).join('; '));
      for (const c of fresh) this.#channels.set(c, answer);
    }
    try {
      await Promise.all(listeners.map((l) => this.#channels.get(l.channel)));
    } catch (err) {
      if (this.#client === client) client.emit('error', err as Error); // lost(): connected again
      return false;
    }
    if (this.#client !== client) return false;
    for (const l of listeners) {
      if (!this.#listeners.has(l) || l.listening) continue;
      l.listening = true;
      // What was notified while no one listened is lost: the listener looks at everything.
      tell(l, null);
    }
    return true;
  }

  #schedule() {
    if (this.#retry || this.#listeners.size === 0) return;
    const ms = this.#backoffMs;
    this.#backoffMs = Math.min(MAX_BACKOFF_MS, ms * 2);
    this.#retry = setTimeout(() => {
      this.#retry = null;
      void this.#connect();
    }, ms);
    this.#retry.unref();
  }
}
