import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { EmbeddedQueue, type EmbeddedQueueOptions } from '../../src/queue/embedded.ts';
import type { NewJob } from '../../src/queue/queue.ts';
import { openSqlite } from '../../src/store/connection.ts';
import { type Database, kyselyOver, openStore, type Store } from '../../src/store/index.ts';

// The embedded queue on a real store (a fresh SQLite file), and what its tests watch the handlers do.

export interface QueueStore {
  path: string;
  store: Store;
  /** The store's Kysely, counting the statements run through it. */
  db: Kysely<Database>;
  statements(): number;
  queue(options?: EmbeddedQueueOptions): EmbeddedQueue;
  /** Another connection to the same file (a second process, as far as SQLite is concerned). */
  reopen(): Promise<QueueStore>;
  close(): Promise<void>;
}

const opened: { dir: string; stores: Store[]; queues: EmbeddedQueue[] }[] = [];

/**
 * Another connection to a store's file, as a second process would have (openStore refuses a store
 * in use: this process has it already).
 */
function connectionTo(file: string): Store {
  const sqlite = openSqlite(file, { autocheckpoint: 10_000 });
  const db = kyselyOver(sqlite);
  const relaxed = kyselyOver(sqlite, { durable: false });
  return {
    kind: 'sqlite',
    db,
    relaxed,
    sqlitePath: file,
    sqlite,
    damage: () => null,
    close: () => db.destroy(),
  };
}

export async function queueStore(path?: string): Promise<QueueStore> {
  const dir = path ? null : mkdtempSync(join(tmpdir(), 'igdm-queue-'));
  const file = path ?? join(dir!, 'igdm.sqlite');
  const store = path ? connectionTo(path) : await openStore(`sqlite:${file}`);
  const entry = { dir: dir ?? '', stores: [store], queues: [] as EmbeddedQueue[] };
  opened.push(entry);
  let count = 0;
  const db = store.db.withPlugin({
    transformQuery(args) {
      count++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  });
  const self: QueueStore = {
    path: file,
    store,
    db,
    statements: () => count,
    queue(options) {
      const q = new EmbeddedQueue(db, { maxAttempts: 3, backoffMs: () => 50, ...options });
      entry.queues.push(q);
      return q;
    },
    reopen: () => queueStore(file),
    async close() {
      for (const q of entry.queues) await q.close();
      await store.close();
    },
  };
  return self;
}

/** Closes every queue and store the tests opened, and removes their files. */
export async function closeAll() {
  for (const e of opened.splice(0)) {
    for (const q of e.queues) await q.close().catch(() => {});
    for (const s of e.stores) await s.close().catch(() => {});
    if (e.dir) rmSync(e.dir, { recursive: true, force: true });
  }
}

let seq = 0;
/** A job of `key` ordered at `orderAt`; the payload names it. */
export function job(key: string, orderAt: number, name = `${key}@${orderAt}`, queue = 'q'): NewJob {
  return { queue, key, orderAt, dedupKey: `${name}#${++seq}`, payload: { name } };
}

/**
 * The row of a job a process was running when it stopped (its lease ended at `lockedUntil`), as the
 * store has it; the payload names it `name`.
 */
export function runningRow(r: {
  key: string;
  dedupKey: string;
  attempts: number;
  lockedUntil: number;
  name?: string;
  runAgain?: number;
}) {
  const at = Date.now() - 1000;
  return {
    queue: 'q',
    key: r.key,
    orderAt: 1,
    dedupKey: r.dedupKey,
    payload: JSON.stringify({ name: r.name ?? r.dedupKey }),
    status: 'active' as const,
    attempts: r.attempts,
    runAt: at,
    runAgain: r.runAgain ?? 0,
    lockedUntil: r.lockedUntil,
    error: null,
    result: null,
    createdAt: at,
    updatedAt: at,
    finishedAt: null,
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until `done` holds; fails after the timeout. */
export async function until(done: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** A promise and its resolve, for handlers that wait for the test. */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/**
 * Watches handlers: the order they ran in, per key, and how many ran at once (in all and per key).
 */
export class Recorder {
  readonly started: string[] = [];
  readonly finished: string[] = [];
  running = 0;
  maxRunning = 0;
  readonly #perKey = new Map<string, number>();
  /** Keys that ever had two handlers at once. */
  readonly overlaps = new Set<string>();

  enter(key: string, name: string) {
    this.started.push(name);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const n = (this.#perKey.get(key) ?? 0) + 1;
    this.#perKey.set(key, n);
    if (n > 1) this.overlaps.add(key);
  }

  leave(key: string, name: string) {
    this.finished.push(name);
    this.running--;
    this.#perKey.set(key, this.#perKey.get(key)! - 1);
  }

  /** The names started for one key (names are `${key}@...`), in order. */
  of(key: string) {
    return this.started.filter((n) => n.startsWith(`${key}@`));
  }
}
