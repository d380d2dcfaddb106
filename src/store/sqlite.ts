import type { DatabaseSync, StatementSync } from 'node:sqlite';
import {
  CamelCasePlugin,
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type Kysely,
  type PluginTransformResultArgs,
  type QueryExecutor,
  type QueryResult,
  SqliteAdapter,
  SqliteDialect,
  type UnknownRow,
} from 'kysely';
import { WalSync } from './connection.ts';
import { type WriteGate, writeGateFor } from './write-gate.ts';

// The embedded store on the main thread: Kysely's SQLite dialect over node:sqlite. Three threads write
// to the store (the main thread, the ingest worker, the projector), one at a time through the write
// gate (write-gate.ts); commits are made durable by syncing the WAL (connection.ts). Here a write
// resolves once the WAL is synced, on libuv's thread pool, one fsync for every commit made meanwhile,
// so the event loop never waits for the disk.
//
// So on the main thread a write is visible to other readers as soon as it is committed, a moment
// before the writer's `await` returns (while its fsync runs), and others use the connection in that
// moment: state that a writer changes after the write (in memory, or in a later write) may lag.

export interface DialectOptions {
  /**
   * false: writes resolve once committed, without waiting for the disk. For state derived from
   * what is durable already (a job's claim or outcome, what a handler writes before its next
   * durable write): a crash of the process loses none of it, and a power loss may roll back the
   * newest of these writes but never one that a later durable write followed (the WAL is a log).
   * The same connection, order and gate as the durable dialect over the same database.
   */
  durable?: boolean;
}

const sharedConnections = new WeakMap<DatabaseSync, SharedConnection>();

/** The longest the main thread keeps the gate for writes queued one after another. */
const GATE_BURST_MS = 2;

/**
 * Kysely's SQLite dialect over node:sqlite, with the write gate and durable commits. Kysely sees
 * connections it may use at once; they share the one SQLite connection, which lets a statement or a
 * transaction in only while no other transaction is open (as Kysely's own lock would), but the wait
 * for the disk comes after that lock is released: a write (or a transaction that wrote) resolves
 * once the WAL is synced, while others use the connection meanwhile. Writes hold the gate; reads
 * outside transactions hold nothing (WAL readers never wait).
 */
export function sqliteDialect(db: DatabaseSync, options: DialectOptions = {}): SqliteDialect {
  let shared = sharedConnections.get(db);
  if (!shared) {
    shared = new SharedConnection(db, writeGateFor(db.location() ?? ':memory:'));
    sharedConnections.set(db, shared);
  }
  const connection = shared;
  const durable = options.durable ?? true;
  return new (class extends SqliteDialect {
    override createDriver(): Driver {
      return new StoreDriver(connection, durable);
    }
    override createAdapter(): SqliteAdapter {
      return new StoreAdapter(connection, durable);
    }
  })({ database: {} as never });
}

class StoreAdapter extends SqliteAdapter {
  readonly shared: SharedConnection;
  readonly durable: boolean;

  constructor(shared: SharedConnection, durable: boolean) {
    super();
    this.shared = shared;
    this.durable = durable;
  }

  // The driver orders access itself (see SharedConnection): Kysely's lock would be held while a
  // write waits for the disk.
  override get supportsMultipleConnections() {
    return true;
  }
}

type Executes = Pick<Kysely<never>, 'executeQuery' | 'isTransaction'> & { getExecutor?: () => QueryExecutor };

/**
 * Runs a compiled query (store/prepared.ts) on the store's connection directly, as the driver would
 * but without Kysely's executor: its connection hand-out, plugins and promises were a quarter of
 * what the main thread allocated. The compiled query is final already (built with the plugins), and
 * its rows come back named as the driver names them. Anything else goes through `db`.
 */
export function executeCompiled<R>(db: Executes, query: CompiledQuery<R>): Promise<QueryResult<R>> {
  // getExecutor is Kysely's (marked internal): its adapter tells which store's connection `db` is on.
  const adapter = db.getExecutor?.().adapter;
  if (!(adapter instanceof StoreAdapter)) return db.executeQuery(query);
  // A transaction's statements run in it (the one open transaction of the connection).
  return adapter.shared.execute<R>(query, db.isTransaction, adapter.durable);
}

function settle<T>(run: () => T): Promise<T> {
  try {
    return Promise.resolve(run());
  } catch (err) {
    return Promise.reject(err);
  }
}

type Param = null | number | bigint | string | Uint8Array;

const READ_ONLY_RAW = /^\s*(select|explain)\b/i;

/** True for statements that may write: not a SELECT (Kysely's, or raw SQL starting with one). */
function writes(query: CompiledQuery): boolean {
  const kind = query.query.kind;
  if (kind === 'SelectQueryNode') return false;
  if (kind === 'RawNode') return !READ_ONLY_RAW.test(query.sql);
  return true;
}

/**
 * Kysely's CamelCasePlugin for the SQL it builds; the rows are camelCase already: the driver names
 * their columns once per statement (the plugin renamed every key of every row, a large share of what
 * the main thread allocated). So rows read without plugins are camelCase too (Kysely's introspector
 * reads `dflt_value`: igdm does not use it).
 */
export class StoreCamelCase extends CamelCasePlugin {
  override async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }

  /** A column's snake_case name in camelCase, as the plugin would have renamed it. */
  columnName(name: string): string {
    return this.camelCase(name);
  }
}

const namer = new StoreCamelCase();
export const camelCase = (name: string): string => namer.columnName(name);

/** A row from node:sqlite's array of values (setReturnArrays) and its columns' names. */
export function toRow<R>(names: string[], values: unknown[]): R {
  const row: Record<string, unknown> = {};
  for (let i = 0; i < names.length; i++) row[names[i]!] = values[i];
  return row as R;
}

interface Statement {
  stmt: StatementSync;
  /** The result's column names, camelCase. */
  names: string[];
  reader: boolean;
}

/** The SQLite connection of the main thread, shared by every Kysely connection over it. */
class SharedConnection {
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

/** One Kysely connection: inside a transaction, its statements run in it. */
class StoreConnection implements DatabaseConnection {
  readonly #shared: SharedConnection;
  readonly #durable: boolean;
  inTransaction = false;

  constructor(shared: SharedConnection, durable: boolean) {
    this.#shared = shared;
    this.#durable = durable;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return this.#shared.execute<R>(query, this.inTransaction, this.#durable);
  }

  async *streamQuery<R>(query: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (query.query.kind !== 'SelectQueryNode') throw new Error('only SELECT queries can be streamed');
    if (!this.inTransaction) await this.#shared.outsideTransactions();
    for (const row of this.#shared.iterate(query)) yield { rows: [row as R] };
  }
}

/** Connection objects kept for reuse: Kysely takes one per statement (and remembers each it saw). */
const MAX_IDLE_CONNECTIONS = 64;

class StoreDriver implements Driver {
  readonly #shared: SharedConnection;
  readonly #durable: boolean;
  readonly #idle: StoreConnection[] = [];

  constructor(shared: SharedConnection, durable: boolean) {
    this.#shared = shared;
    this.#durable = durable;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    return this.#idle.pop() ?? new StoreConnection(this.#shared, this.#durable);
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const c = connection as StoreConnection;
    await this.#shared.begin();
    c.inTransaction = true;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await this.#end(connection as StoreConnection, true);
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await this.#end(connection as StoreConnection, false);
  }

  async #end(c: StoreConnection, commit: boolean): Promise<void> {
    c.inTransaction = false;
    await this.#shared.end(commit, this.#durable);
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quote(name)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to ${quote(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release ${quote(name)}`));
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    if (this.#idle.length < MAX_IDLE_CONNECTIONS) this.#idle.push(connection as StoreConnection);
  }

  async destroy(): Promise<void> {
    await this.#shared.close();
  }
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** A value as SQLite binds it: booleans as 0/1, dates as epoch ms, objects as JSON. */
export function toParam(v: unknown): Param {
  if (v === undefined || v === null) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string') return v;
  if (v instanceof Uint8Array) return v;
  if (v instanceof Date) return v.getTime();
  return JSON.stringify(v);
}
