import type { MessagePort } from 'node:worker_threads';

// Messages between the HTTP thread and the ingest worker.

/** Where an entry id may route events: a channel's account or Page id. */
export interface ChannelRoute {
  id: string;
  accountId: string | null;
  pageId: string | null;
  /** A deleted channel's: its events are kept raw, given to no channel. */
  deleted?: boolean;
}

export interface WriteRequest {
  type: 'write';
  id: number;
  /** The raw body, already signature-checked. */
  body: string;
  /** The channel named by the URL (/webhooks/instagram/:channelId), if any. */
  channelId: string | null;
  /** Channels whose secret verified the signature: the fallback route for unknown entry ids. */
  verifiedBy: string[];
  receivedAt: number;
  /** Read from the Conversations API by a backfill (src/backfill/), not delivered by Meta. */
  backfilled?: boolean;
}

export type WriteResult =
  | { status: 'stored'; events: number; inserted: number; objects: string[] }
  | { status: 'malformed'; reason: string }
  | { status: 'failed'; reason: string };

export type ToWorker =
  | WriteRequest
  | { type: 'channels'; routes: ChannelRoute[] }
  | { type: 'ping'; id: number }
  | { type: 'close' };

export type FromWorker =
  | { type: 'written'; id: number; result: WriteResult }
  | { type: 'pong'; id: number }
  | { type: 'error'; message: string };

export interface WorkerData {
  sqlitePath: string;
  routes: ChannelRoute[];
  /** The store's write gate (store/write-gate.ts), shared with the main thread and the projector. */
  gate: SharedArrayBuffer;
  /** Where the worker says that it stored new events (after they are on disk): the projector. */
  stored: MessagePort;
}
