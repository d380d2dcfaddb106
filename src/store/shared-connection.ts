import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { CompiledQuery, QueryResult } from 'kysely';
import { WalSync } from './connection.ts';
import { camelCase, toParam, toRow } from './rows.ts';
import type { WriteGate } from './write-gate.ts';

// The SQLite connection of the main thread, shared by every Kysely connection over it (sqlite.ts):
// statements prepared once and cached, one open transaction at a time, writes under the write gate,
// durable writes resolved once the WAL is synced.

function settle<T>(run: () => T): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (err) {
    return Promise.reject(err);
  }
}

const READ_ONLY_RAW = /^\s*(select|explain)\b/i;

/** True for statements that may write: not a SELECT (Kysely's, or raw SQL starting with one). */
function writes(query: CompiledQuery): boolean {
  const kind = query.query.kind;
  if (kind === 'SelectQueryNode') return false;
  if (kind === 'RawNode') return !READ_ONLY_RAW.test(query.sql);
  return true;
}

/** The longest the main thread keeps the gate for writes queued one after another. */
const GATE_BURST_MS = 2;

interface Statement {
  stmt: StatementSync;
  /** The result's column names, camelCase. */
  names: string[];
  reader: boolean;
}

/** The SQLite connection of the main thread, shared by every Kysely connection over it. */
export class SharedConnection {
  readonly #db: DatabaseSync;
  readonly #gate: WriteGate;
  readonly #wal: WalSync;
  readonly #cache = new Map<string, Statement>();
  /** Held by a transaction from begin to end, and by a write outside transactions. */
  #held = false;
  /** The holder holds the gate too (since #gateSince). */
  #hasGate = false;
  #gateSince = 0;
  readonly #queue: (() => void)[] = [];
  /** A transaction is open: reads outside it wait. */
  #open: Promise<void> | null = null;
  #closeOpen: (() => void) | null = null;
  /** The open transaction wrote. */
  #wrote = false;

  constructor(db: DatabaseSync, gate: WriteGate) {
    this.#db = db;
    this.#gate = gate;
    this.#wal = new WalSync(db.location() ?? ':memory:');
  }

  async #lock(): Promise<void> {
    if (!this.#held) {
      this.#held = true;
    } else {
      await new Promise<void>((resolve) => this.#queue.push(resolve)); // handed over by #release
    }
    if (this.#hasGate) return; // handed over with it
    try {
      await this.#gate.lock();
    } catch (err) {
      this.#release();
      throw err;
    }
    this.#hasGate = true;
    this.#gateSince = performance.now();
  }

  /**
   * Hands the connection to the next writer waiting, with the gate if it has been held for less
   * than GATE_BURST_MS: the writes queued meanwhile go one after another without waiting for the
   * gate again (and for the worker's turn) each time.
   */
  #release(): void {
    const next = this.#queue.shift();
    if (this.#hasGate && !(next && performance.now() - this.#gateSince < GATE_BURST_MS)) {
      this.#gate.unlock();
      this.#hasGate = false;
    }
    if (next) next();
    else this.#held = false;
  }

  /** Resolves when no transaction is open (a statement outside one would run inside it). */
  async outsideTransactions(): Promise<void> {
    while (this.#open) await this.#open;
  }

  /** A statement of the open transaction (inTransaction), or one on its own: a read or a write. */
  execute<R>(query: CompiledQuery, inTransaction: boolean, durable: boolean): Promise<QueryResult<R>> {
    if (inTransaction) return settle(() => this.#runInTransaction<R>(query));
    return writes(query) ? this.#write<R>(query, durable) : this.#read<R>(query);
  }

  #read<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (!this.#open) return settle(() => this.run<R>(query));
    return this.outsideTransactions().then(() => this.#read<R>(query));
  }

  /** A statement of the open transaction. */
  #runInTransaction<R>(query: CompiledQuery): QueryResult<R> {
    // Kysely refuses a statement on a transaction that has ended; executeCompiled bypasses it.
    if (!this.#open) throw new Error('the transaction has already ended');
    if (writes(query)) this.#wrote = true;
    return this.run<R>(query);
  }

  async #write<R>(query: CompiledQuery, durable: boolean): Promise<QueryResult<R>> {
    await this.#lock();
    let result: QueryResult<R>;
    try {
      result = this.run<R>(query);
    } finally {
      this.#release();
    }
    if (durable) await this.#wal.sync();
    return result;
  }

  async begin(): Promise<void> {
    await this.#lock();
    try {
      this.#db.exec('begin');
    } catch (err) {
      this.#release();
      throw err;
    }
    this.#wrote = false;
    this.#open = new Promise<void>((resolve) => {
      this.#closeOpen = resolve;
    });
  }

  async end(commit: boolean, durable: boolean): Promise<void> {
    const wrote = this.#wrote;
    try {
      if (commit) this.#db.exec('commit');
    } finally {
      // A rollback, or a commit that failed (SQLITE_BUSY from another process): Kysely will not
      // try again, so the transaction is rolled back.
      if (this.#db.isTransaction) this.#db.exec('rollback');
      this.#closeOpen?.();
      this.#open = null;
      this.#closeOpen = null;
      this.#release();
    }
    if (commit && wrote && durable) await this.#wal.sync();
  }

  run<R>(query: CompiledQuery): QueryResult<R> {
    const { stmt, names, reader } = this.#prepare(query.sql);
    const params = query.parameters.map(toParam);
    if (reader)
      return { rows: (stmt.all(...params) as unknown as unknown[][]).map((v) => toRow<R>(names, v)) };
    const { changes, lastInsertRowid } = stmt.run(...params);
    return {
      insertId: lastInsertRowid == null ? undefined : BigInt(lastInsertRowid),
      numAffectedRows: changes == null ? undefined : BigInt(changes),
      rows: [],
    };
  }

  *iterate(query: CompiledQuery): IterableIterator<unknown> {
    const { stmt, names } = this.#prepare(query.sql);
    for (const values of stmt.iterate(...query.parameters.map(toParam)))
      yield toRow(names, values as unknown as unknown[]);
  }

  /** Once, whichever Kysely over it is destroyed first. */
  async close(): Promise<void> {
    if (!this.#db.isOpen) return;
    this.#db.close();
    await this.#wal.close();
  }

  #prepare(sql: string): Statement {
    let entry = this.#cache.get(sql);
    if (!entry) {
      const stmt = this.#db.prepare(sql);
      const names = stmt.columns().map((c) => camelCase(c.name));
      // Rows come back as arrays and become objects under names worked out once (StoreCamelCase).
      stmt.setReturnArrays(true);
      entry = { stmt, names, reader: names.length > 0 };
      if (this.#cache.size > 500) this.#cache.clear();
      this.#cache.set(sql, entry);
    }
    return entry;
  }
}
