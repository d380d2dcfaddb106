import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { BUSY_TIMEOUT_MS } from './write-gate.ts';

// The embedded store's file: a connection to it in WAL mode, and its commits made durable by syncing
// the WAL, without an fsync per commit. Connections run with synchronous=NORMAL (a commit writes the
// WAL, no fsync), and whoever needs durability syncs the WAL file itself: the ingest worker before it
// acknowledges (syncWal), the main thread's Kysely driver (sqlite.ts) on libuv's thread pool
// (WalSync). The WAL is a log: a sync makes every earlier commit durable too. A process crash loses
// nothing either way (the OS has the writes). No Kysely here: the worker threads start faster without.

export interface OpenOptions {
  /** WAL pages after which a commit on this connection checkpoints (SQLite's default: 1000). */
  autocheckpoint?: number;
}

export function openSqlite(path: string, options: OpenOptions = {}): DatabaseSync {
  const db = new DatabaseSync(path, { timeout: BUSY_TIMEOUT_MS });
  db.exec('PRAGMA journal_mode = WAL');
  // Durability comes from syncing the WAL (syncWal, WalSync), not from each commit.
  db.exec('PRAGMA synchronous = NORMAL');
  db.exec('PRAGMA foreign_keys = ON');
  if (options.autocheckpoint !== undefined) db.exec(`PRAGMA wal_autocheckpoint = ${options.autocheckpoint}`);
  return db;
}

/** The WAL file of a database path (null for an in-memory database). */
export const walPathOf = (path: string): string | null =>
  path === ':memory:' || path === '' ? null : `${resolve(path)}-wal`;

const walFds = new Map<string, number>();

/** Closes the WAL descriptor syncWal keeps (before its connection closes, which may delete the file). */
export function releaseWal(path: string): void {
  const wal = walPathOf(path);
  const fd = wal === null ? undefined : walFds.get(wal);
  if (wal === null || fd === undefined) return;
  walFds.delete(wal);
  closeSync(fd);
}

/** Makes every commit so far durable, blocking (for the ingest worker's thread). */
export function syncWal(path: string): void {
  const wal = walPathOf(path);
  if (!wal) return;
  let fd = walFds.get(wal);
  if (fd === undefined) {
    try {
      fd = openSync(wal, 'r+');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // nothing written yet
      throw err;
    }
    walFds.set(wal, fd);
  }
  fdatasyncSync(fd);
}

/**
 * Makes commits durable without blocking the event loop: sync() resolves once an fdatasync of the
 * WAL that started after the call has finished, on libuv's thread pool, one for every call made
 * meanwhile. (Waiting for the ingest worker's next fsync instead was tried: no faster, with an fsync
 * taking ~0.2 ms here; BENCHMARKS.md, e2e.)
 */
export class WalSync {
  readonly #wal: string | null;
  /** The WAL, kept open (SQLite keeps the file while a connection is open). */
  #fd: number | null = null;
  #running: Promise<void> | null = null;
  #next: Promise<void> | null = null;

  constructor(path: string) {
    this.#wal = walPathOf(path);
  }

  sync(): Promise<void> {
    if (!this.#wal) return Promise.resolve();
    if (!this.#running) return this.#start();
    // The one running may have started before the caller's commit: the caller waits for the next.
    this.#next ??= this.#running.then(
      () => this.#startNext(),
      () => this.#startNext(),
    );
    return this.#next;
  }

  /** After the syncs under way. */
  async close(): Promise<void> {
    await Promise.allSettled([this.#running, this.#next]);
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }

  #startNext(): Promise<void> {
    this.#next = null;
    return this.#start();
  }

  #start(): Promise<void> {
    if (this.#fd === null) {
      try {
        this.#fd = openSync(this.#wal!, 'r+');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Promise.resolve(); // nothing written
        return Promise.reject(err);
      }
    }
    const run = new Promise<void>((resolve, reject) => {
      fdatasync(this.#fd!, (err) => (err ? reject(err) : resolve()));
    });
    this.#running = run;
    const clear = () => {
      if (this.#running === run) this.#running = null;
    };
    run.then(clear, clear);
    return run;
  }
}
