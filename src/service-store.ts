import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import type { Config } from './config.ts';
import { PostgresIngestWriter } from './ingest/postgres-writer.ts';
import type { ChannelRoute } from './ingest/protocol.ts';
import { IngestWriter, type WebhookWriter } from './ingest/writer.ts';
import type { Logger } from './log.ts';
import { PostgresProjection } from './projection/postgres-projection.ts';
import { type Projection, ProjectionThread } from './projection/thread.ts';
import { EmbeddedQueue } from './queue/embedded.ts';
import { PostgresQueue } from './queue/postgres.ts';
import type { WorkQueue } from './queue/queue.ts';
import { isPostgresUrl, openPostgresStore, openSqliteStore, type Store } from './store/index.ts';

// The parts of the service that differ by store. The embedded store: the ingest worker and the
// projector in threads of their own on the SQLite file, the embedded queue, the data files beside
// the store. PostgreSQL: the ingest path and the projection loop on the pool, PostgresQueue (any
// number of processes on one database; docs/postgres.md), the data files in IGDM_DATA_DIR.

export interface OpenedStore {
  store: Store;
  /** Where secret.key (without IGDM_SECRET_KEY) and the kept media go. */
  dataDir: string;
}

export async function openServiceStore(
  config: Config,
  log: Logger,
  options: { integrityBudgetMs?: number } = {},
): Promise<OpenedStore> {
  if (isPostgresUrl(config.databaseUrl)) {
    const store = await openPostgresStore(config.databaseUrl);
    const dataDir = resolve(config.dataDir);
    mkdirSync(dataDir, { recursive: true });
    if (!config.secretKey)
      log.warn(
        { keyFile: join(dataDir, 'secret.key') },
        'IGDM_SECRET_KEY is not set: tokens are sealed with the key file in IGDM_DATA_DIR; processes on other machines need the same key (set IGDM_SECRET_KEY on all of them)',
      );
    return { store, dataDir };
  }
  const store = await openSqliteStore(config.databaseUrl, {
    integrityBudgetMs: options.integrityBudgetMs,
    lateDamage: (message) => log.error(message),
  });
  return { store, dataDir: dirname(resolve(store.sqlitePath)) };
}

export interface StoreParts {
  writer: WebhookWriter;
  projection: Projection;
  queue: WorkQueue;
  /** A path on the disk the store (or the data folder) is on, for /readyz's free space. */
  diskPath: string;
  /** Resolves once the parts answer (the threads load their code and open the store). */
  started(timeoutMs: number): Promise<boolean>;
  /** Starts applying stored events (PostgreSQL's loop; SQLite's thread starts by itself). */
  start(): void;
}

/**
 * How long an event waits before a `worker` applies it in place of the web processes: long enough
 * that a web process behind in a burst is not made to stand by (postgres-projection.ts).
 */
const PROJECTION_FALLBACK_MS = 5000;

export function storeParts(
  opened: OpenedStore,
  config: Config,
  routes: ChannelRoute[],
  log: Logger,
): StoreParts {
  // A done job is history by then: a redelivered event is caught by the event log's dedup key.
  const keepDoneMs = config.jobRetentionDays === null ? undefined : config.jobRetentionDays * 86_400_000;
  const { store } = opened;
  if (store.kind === 'postgres') {
    // As on the embedded store, the queue's bookkeeping and the projection need not wait for the disk
    // (store/index.ts, relaxed): the projection is applied again from the event log, a job whose
    // outcome is lost runs again, and the sender's claim flushes both before anything leaves igdm.
    const queue = new PostgresQueue(store.relaxed, { listen: config.databaseUrl, keepDoneMs, log });
    // The processes that store webhooks apply them (`web` and `all`: the first to know, and the
    // workers' main threads are the busier); a `worker` is their fallback, for events that waited
    // (no web process applies them), and applies what it stored itself (backfill). Docs: postgres.md,
    // Roles.
    const origin = randomBytes(6).toString('hex');
    const projection = new PostgresProjection(store.relaxed, {
      enqueue: (trx, jobs) => queue.enqueue(trx, jobs),
      ...(config.role === 'worker'
        ? { fallbackAfterMs: PROJECTION_FALLBACK_MS }
        : { listen: config.databaseUrl, origin }),
      log,
    });
    const writer = new PostgresIngestWriter(store.db, routes, () => projection.wake(), origin);
    return {
      writer,
      projection,
      queue,
      diskPath: join(opened.dataDir, 'media'),
      started: (timeoutMs) => writer.ping(timeoutMs),
      start: () => projection.start(),
    };
  }
  // The ingest worker appends to the event log; it tells the projector, which applies the events.
  const stored = new MessageChannel();
  const writer = new IngestWriter(store.sqlitePath, routes, stored.port1);
  const projection = new ProjectionThread(store.sqlitePath, stored.port2, log);
  // The queue's bookkeeping and the engine's writes need not wait for the disk: a job whose outcome
  // is lost runs again (its effects are keyed), and what it queued becomes durable with the sender's
  // claim, which does wait, before anything leaves igdm (see store.relaxed).
  const queue = new EmbeddedQueue(store.relaxed, { log, ...(keepDoneMs !== undefined && { keepDoneMs }) });
  return {
    writer,
    projection,
    queue,
    diskPath: store.sqlitePath,
    started: async (timeoutMs) => {
      const answers = await Promise.all([writer.ping(timeoutMs), projection.ping(timeoutMs)]);
      return answers.every(Boolean);
    },
    start: () => {},
  };
}
