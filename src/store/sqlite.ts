import type { DatabaseSync } from 'node:sqlite';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  type KyselyConfig,
  type QueryResult,
  SqliteAdapter,
  SqliteDialect,
  type TransactionBuilder,
} from 'kysely';
import { SharedConnection } from './shared-connection.ts';
import { writeGateFor } from './write-gate.ts';

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
  const dialect = new (class extends SqliteDialect {
    override createDriver(): Driver {
      return new StoreDriver(connection, durable);
    }
    override createAdapter(): SqliteAdapter {
      return new StoreAdapter();
    }
  })({ database: {} as never });
  targets.set(dialect, { shared: connection, durable });
  return dialect;
}

class StoreAdapter extends SqliteAdapter {
  // The driver orders access itself (see SharedConnection): Kysely's lock would be held while a
  // write waits for the disk.
  override get supportsMultipleConnections() {
    return true;
  }
}

/** A store's connection, as a Kysely instance or transaction over it reaches it. */
interface Target {
  shared: SharedConnection;
  durable: boolean;
}

/** The dialects made here, and the Kysely instances and transactions over them. */
const targets = new WeakMap<object, Target>();

/**
 * Kysely over the store's dialect: the instance, and each transaction it opens, are known here
 * (Kysely's public API has no way to ask a transaction which dialect it runs on), so that
 * executeCompiled can run compiled statements on the connection directly.
 */
export class StoreKysely<DB> extends Kysely<DB> {
  constructor(config: KyselyConfig) {
    super(config);
    const target = targets.get(config.dialect);
    if (target) targets.set(this, target);
  }

  override transaction(): TransactionBuilder<DB> {
    const builder = super.transaction();
    const target = targets.get(this);
    if (!target) return builder;
    const execute = builder.execute.bind(builder);
    builder.execute = (callback) =>
      execute((trx) => {
        targets.set(trx, target);
        return callback(trx);
      });
    return builder;
  }
}

type Executes = Pick<Kysely<never>, 'executeQuery' | 'isTransaction'>;

/**
 * Runs a compiled query (store/prepared.ts) on the store's connection directly, as the driver would
 * but without Kysely's executor: its connection hand-out, plugins and promises were a quarter of
 * what the main thread allocated. The compiled query is final already (built with the plugins), and
 * its rows come back named as the driver names them. Anything else (another dialect, an instance
 * made with withPlugin) goes through Kysely.
 */
export function executeCompiled<R>(db: Executes, query: CompiledQuery<R>): Promise<QueryResult<R>> {
  const target = targets.get(db);
  if (!target) return db.executeQuery(query);
  // A transaction's statements run in it (the one open transaction of the connection).
  return target.shared.execute<R>(query, db.isTransaction, target.durable);
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
