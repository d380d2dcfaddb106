import { hostname } from 'node:os';
import { basename } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { isBusy } from './faults.ts';
import { createOwnerOnly } from './files.ts';

// One process at a time per embedded store: two would each run the queue and the sender, and the
// ingest worker's write gate (store/write-gate.ts) only orders the threads of one process.
//
// Node has no flock, so SQLite locks for it: a small database beside the store, `<store>.lock`
// (rollback journal), where the holder writes who it is, then opens a write transaction that it
// keeps for as long as it uses the store. Others can still read who holds it, but cannot open a
// write transaction of their own; the OS drops the lock when the process ends, even on SIGKILL.
// SQLite also keeps two connections of one process apart.

/** How long a commit (or a read of who holds the lock) waits for another process's brief look. */
const BRIEF_WAIT_MS = 2000;

export interface LockHolder {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
}

export class StoreInUseError extends Error {
  readonly holder: LockHolder | null;

  constructor(path: string, holder: LockHolder | null) {
    const who = holder
      ? `"${holder.command}" (pid ${holder.pid} on host ${holder.host}, since ${holder.startedAt})`
      : 'another process';
    super(
      `the store ${path} is in use by ${who}: one igdm process at a time may use a store. Stop that process first, or set DATABASE_URL to another store`,
    );
    this.holder = holder;
  }
}

/** How this process was started, as typed (`igdm start`). */
function commandLine(): string {
  const [entry = 'node', ...args] = process.argv.slice(1);
  const name = /igdm(\.mjs)?$/.test(entry) ? 'igdm' : basename(entry);
  return [name, ...args].join(' ').slice(0, 200);
}

export class StoreLock {
  readonly #db: DatabaseSync;

  private constructor(db: DatabaseSync) {
    this.#db = db;
  }

  /** Takes the store at `path` for this process, or throws StoreInUseError naming the holder. */
  static take(path: string): StoreLock {
    const file = `${path}.lock`;
    createOwnerOnly(file);
    const db = new DatabaseSync(file, { timeout: 0 });
    try {
      if (!tryBegin(db)) throw new StoreInUseError(path, holderOf(db));
      db.exec(`PRAGMA busy_timeout = ${BRIEF_WAIT_MS}`);
      db.exec('create table if not exists holder (pid integer, host text, started_at text, command text)');
      db.exec('delete from holder');
      db.prepare('insert into holder values (?, ?, ?, ?)').run(
        process.pid,
        hostname(),
        new Date().toISOString(),
        commandLine(),
      );
      db.exec('commit');
      db.exec('PRAGMA busy_timeout = 0');
      // Another process may have come in between the two transactions.
      if (!tryBegin(db)) throw new StoreInUseError(path, holderOf(db));
    } catch (err) {
      db.close();
      throw err;
    }
    return new StoreLock(db);
  }

  /** Lets another process take the store. */
  release(): void {
    if (!this.#db.isOpen) return;
    this.#db.close(); // rolls the transaction back, which drops the lock
  }
}

/** Opens the write transaction that is the lock; false when another connection has it. */
function tryBegin(db: DatabaseSync): boolean {
  try {
    db.exec('begin immediate');
    return true;
  } catch (err) {
    if (isBusy(err)) return false;
    throw err;
  }
}

function holderOf(db: DatabaseSync): LockHolder | null {
  try {
    db.exec(`PRAGMA busy_timeout = ${BRIEF_WAIT_MS}`);
    const row = db.prepare('select pid, host, started_at, command from holder').get() as
      | { pid: number; host: string; started_at: string; command: string }
      | undefined;
    return row ? { pid: row.pid, host: row.host, startedAt: row.started_at, command: row.command } : null;
  } catch {
    return null; // the holder has not said who it is yet
  }
}
