import type { Kysely } from 'kysely';
import type { Logger } from '../log.ts';
import {
  before,
  isAfter,
  type LoggedEvent,
  type LogPosition,
  lastPosition,
  past,
  readLog,
} from '../store/event-log.ts';
import type { StoredEvent } from '../store/events.ts';
import type { Database } from '../store/schema.ts';

// The live fan-out of the event log: one reader follows the log (woken when the projector applied
// events, and every 50 ms while anyone listens, for what the main thread wrote) and hands each new
// event to the subscribers that want it. A subscriber joining with a cursor first reads what it
// missed from the store, then joins; every subscriber skips what it has already had, so a reconnect
// with its last id sees no gap and no duplicate. One joining without a cursor starts now: on
// PostgreSQL it also passes over what had committed when it joined, though after its position.
// Positions are the log's reading order (store/event-log.ts: the id on SQLite, (transaction, id) on
// PostgreSQL, where ids commit out of order).

const PAGE = 500;
/** While anyone listens, the log is also read this often: writes no one announced show within it. */
const LOOK_EVERY_MS = 50;
/**
 * Reads start at most this often: each read writes to every subscriber's socket once, and a write
 * costs more than the events in it (100 subscribers woken by every small batch of the projector
 * made the writes the main thread's largest cost at 500 events/s; BENCHMARKS.md, API).
 */
const READ_GAP_MS = 10;

export interface Subscriber {
  /** The position of the last event it has had. */
  cursor: LogPosition;
  wants(e: StoredEvent): boolean;
  send(e: StoredEvent): void;
}

export class EventHub {
  readonly #db: Kysely<Database>;
  readonly #log: Logger;
  readonly #subscribers = new Set<Subscriber>();
  /** The last event read from the log. */
  #last: LogPosition = { tx: 0, id: 0 };
  #reading: Promise<void> | null = null;
  #again = false;
  #timer: NodeJS.Timeout | null = null;
  /** When the last read started (performance.now()), and the wake deferred until READ_GAP_MS after it. */
  #lastRead = Number.NEGATIVE_INFINITY;
  #deferred: NodeJS.Timeout | null = null;

  constructor(db: Kysely<Database>, log: Logger) {
    this.#db = db;
    this.#log = log;
  }

  async start(): Promise<void> {
    this.#last = await lastPosition(this.#db);
  }

  /** The log may have grown. */
  wake(): void {
    if (this.#subscribers.size === 0) {
      this.#again = true; // read when someone is there (their catch-up reads the rest)
      return;
    }
    if (this.#reading) {
      this.#again = true;
      return;
    }
    if (this.#deferred) return;
    const early = this.#lastRead + READ_GAP_MS - performance.now();
    if (early > 0) {
      this.#deferred = setTimeout(() => {
        this.#deferred = null;
        this.wake();
      }, early).unref();
      return;
    }
    this.#lastRead = performance.now();
    this.#reading = this.#read()
      .catch((err: unknown) => this.#log.error({ err }, 'event stream: reading the log failed'))
      .finally(() => {
        this.#reading = null;
        if (this.#again) {
          this.#again = false;
          this.wake();
        }
      });
  }

  async #read(): Promise<void> {
    for (;;) {
      const rows = await readLog(this.#db, this.#last, PAGE);
      for (const e of rows) {
        this.#last = { tx: e.tx, id: e.id };
        for (const s of this.#subscribers) deliver(s, e);
      }
      if (rows.length < PAGE) return;
    }
  }

  /** Sends `s` what it missed since its cursor, then every new event it wants; returns its end. */
  async subscribe(s: Subscriber): Promise<() => void> {
    // Caught up from the store until it reaches what the hub has read: then it joins in the same
    // tick, and the hub's next reads (after #last) carry on where it stopped.
    while (isAfter(this.#last, s.cursor)) {
      const rows = await readLog(this.#db, s.cursor, PAGE);
      if (rows.length === 0) break;
      for (const e of rows) deliver(s, e);
    }
    this.#subscribers.add(s);
    if (this.#again) this.wake();
    this.#timer ??= setInterval(() => this.wake(), LOOK_EVERY_MS).unref();
    return () => {
      this.#subscribers.delete(s);
      if (this.#subscribers.size > 0 || !this.#timer) return;
      clearInterval(this.#timer);
      this.#timer = null;
      if (this.#deferred) clearTimeout(this.#deferred);
      this.#deferred = null;
    };
  }
}

/** Once each, in order; not what committed before a subscriber without a cursor joined. */
function deliver(s: Subscriber, e: LoggedEvent) {
  if (!isAfter(e, s.cursor)) return;
  const earlier = before(s.cursor, e);
  s.cursor = past(s.cursor, e);
  if (!earlier && s.wants(e)) s.send(e);
}
