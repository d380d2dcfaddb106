import type { Kysely } from 'kysely';
import { afterEach } from 'vitest';
import type { WorkQueue } from '../../src/queue/queue.ts';
import type { Database } from '../../src/store/schema.ts';
import { failureContract } from './contract-failures.ts';
import { orderContract } from './contract-order.ts';

// The queue port's guarantees (src/queue/queue.ts), run against each backend on a real store
// (embedded.test.ts: SQLite, postgres.test.ts: PostgreSQL): one key's jobs one at a time in orderAt
// order, keys in parallel up to the concurrency, retries with backoff that nothing of their key
// overtakes, dead letters that release their key and can be retried, RetryLater, idempotent adds,
// jobs of a process that stopped run again, closing, and retention.

/** The options every backend takes (each has more of its own). */
export interface ContractQueueOptions {
  maxAttempts?: number;
  backoffMs?: (attempt: number) => number;
  leaseMs?: number;
  keepDoneMs?: number;
  now?: () => number;
}

export type ContractQueue = WorkQueue & { prune(finishedBefore: number): Promise<number> };

/** A fresh store with a backend's queues on it. */
export interface QueueHarness {
  db: Kysely<Database>;
  queue(options?: ContractQueueOptions): ContractQueue;
  /** Another connection to the same store, as another process would have. */
  reopen(): Promise<QueueHarness>;
}

export interface QueueBackend {
  open(): Promise<QueueHarness>;
  /** Closes the queues and connections the test opened. */
  closeAll(): Promise<void>;
}

/** The port's guarantees, each test on a fresh store of `backend`. */
export function queueContract(backend: QueueBackend) {
  afterEach(() => backend.closeAll());
  orderContract(backend);
  failureContract(backend);
}
