import type { MessagePort } from 'node:worker_threads';

// Messages between the main thread and the projector thread.

export interface ProjectorData {
  sqlitePath: string;
  /** The store's write gate (store/write-gate.ts), shared with the main thread and the ingest worker. */
  gate: SharedArrayBuffer;
  /** The ingest worker says here when it has stored new events (after they are on disk). */
  stored: MessagePort;
}

export type ToProjector = { type: 'ping'; id: number } | { type: 'close' };

export type FromProjector =
  | { type: 'pong'; id: number }
  /** Events applied: the conversations they changed. */
  | {
      type: 'applied';
      events: number;
      conversations: string[];
      /** Events that could not be applied, by reason. */
      unapplied: Record<string, number>;
    }
  /** How far behind the event log the projection is: events not applied yet, and the oldest one's wait. */
  | { type: 'backlog'; events: number; lagMs: number }
  /** A batch could not be applied (the store failed): tried again in retryInMs. */
  | { type: 'apply-failed'; message: string; retryInMs: number }
  /** Applying works again after failures. */
  | { type: 'apply-recovered' }
  | { type: 'error'; message: string };
