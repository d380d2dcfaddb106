import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { openSqlite, releaseWal, syncWal, walPathOf } from '../store/connection.ts';
import { BUSY_TIMEOUT_MS, useWriteGate } from '../store/write-gate.ts';
import { channelOf, type Routes, routeMap, split } from './events.ts';
import type {
  ChannelRoute,
  FromWorker,
  ToWorker,
  WorkerData,
  WriteRequest,
  WriteResult,
} from './protocol.ts';

// The ingest worker owns the durable write path. The HTTP thread hands it signature-checked bodies;
// it splits them into events and appends them to the event log, every request that arrived meanwhile
// in one transaction (group commit), so one fsync acknowledges many requests and the HTTP thread
// never waits on the disk. It then tells the projector (src/projection/), which applies the events
// to conversations in a thread of its own: acknowledgements never wait for that.
//
// It holds the store's write gate (store/write-gate.ts) only while it writes: the fsync that makes a
// group durable comes after the commit, outside the gate, so the main thread's writes need not wait
// for the disk. Checkpoints are made here too (see checkpointIfDue), rather than by whichever commit
// crosses SQLite's threshold (on the main thread, that would stop its event loop).

const port = parentPort!;
const data = workerData as WorkerData;
const gate = useWriteGate(data.sqlitePath, data.gate, 'ingest');
const sqlite = openSqlite(data.sqlitePath, { autocheckpoint: 0 });
const wal = walPathOf(data.sqlitePath);
/**
 * A checkpoint at most this often; the WAL starts again once it holds this many frames. At 500
 * replies a second igdm writes 9000–16000 frames a second (BENCHMARKS.md, e2e): the main thread's
 * connection checkpoints by itself at 10000 (store/index.ts), which these keep it from reaching.
 */
const CHECKPOINT_INTERVAL_MS = 250;
const RESTART_MIN_FRAMES = 1000;
/** How long the restart waits for the main thread's readers to leave the WAL (holding the gate). */
const RESTART_WAIT_MS = 50;
const passiveCheckpoint = sqlite.prepare('PRAGMA wal_checkpoint(PASSIVE)');

const insert = sqlite.prepare(
  `insert into webhook_events (dedup_key, channel_id, object, source, kind, entry_id, entry_time, igsid,
     meta_timestamp, payload, received_at, backfilled)
   values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
   on conflict (dedup_key) do nothing`,
);

let routes: Routes = new Map();
function setRoutes(list: ChannelRoute[]) {
  routes = routeMap(list);
}
setRoutes(data.routes);

function send(msg: FromWorker) {
  port.postMessage(msg);
}

/** Inserts one request's events inside the open transaction. */
function store(req: WriteRequest): WriteResult {
  let body: unknown;
  try {
    body = JSON.parse(req.body);
  } catch (err) {
    return { status: 'malformed', reason: `body is not valid JSON: ${(err as Error).message}` };
  }
  const events = split(body, req.body);
  let inserted = 0;
  const objects = new Set<string>();
  for (const e of events) {
    objects.add(e.object);
    const result = insert.run(
      e.dedupKey,
      channelOf(e, req, routes),
      e.object,
      e.source,
      e.kind,
      e.entryId,
      e.entryTime,
      e.igsid,
      e.timestamp,
      e.json,
      req.receivedAt,
      req.backfilled ? 1 : 0,
    );
    inserted += Number(result.changes);
  }
  return { status: 'stored', events: events.length, inserted, objects: [...objects] };
}

/** One transaction for every waiting request; each request atomic on its own (a savepoint). */
function commitGroup(batch: WriteRequest[]) {
  const results: WriteResult[] = [];
  try {
    gate.lockSync();
    try {
      if (restartWanted) restartWal();
      sqlite.exec('begin immediate');
      for (const req of batch) {
        sqlite.exec('savepoint req');
        try {
          results.push(store(req));
          sqlite.exec('release req');
        } catch (err) {
          sqlite.exec('rollback to req');
          sqlite.exec('release req');
          results.push({ status: 'failed', reason: (err as Error).message });
        }
      }
      sqlite.exec('commit');
    } finally {
      if (sqlite.isTransaction) sqlite.exec('rollback');
      gate.unlock();
    }
    // On disk before anything is acknowledged.
    syncWal(data.sqlitePath);
  } catch (err) {
    const failed: WriteResult = { status: 'failed', reason: (err as Error).message };
    for (const req of batch) send({ type: 'written', id: req.id, result: failed });
    return;
  }
  for (const [i, req] of batch.entries()) send({ type: 'written', id: req.id, result: results[i]! });
  if (results.some((r) => r.status === 'stored' && r.inserted > 0)) data.stored.postMessage('stored');
}

let lastCheckpoint = 0;
/** The WAL is checkpointed: it starts again at the next write of this thread (restartWal). */
let restartWanted = false;

/**
 * Copies the WAL into the database every CHECKPOINT_INTERVAL_MS (PASSIVE: writers and readers go
 * on), and asks for it to start again from its beginning. Passive checkpoints alone never let it
 * start again while commits keep coming: it grew to SQLite's limit, and from then on every commit
 * on the main thread checkpointed it, waiting for the disk on the event loop (BENCHMARKS.md, e2e).
 */
function checkpointIfDue() {
  if (!wal) return;
  const now = Date.now();
  if (now - lastCheckpoint < CHECKPOINT_INTERVAL_MS) return;
  lastCheckpoint = now;
  try {
    // No group commit came since the last one asked: restart here (the main thread's next commit
    // will sync the new WAL header, as it would at any restart).
    if (restartWanted) {
      gate.lockSync();
      try {
        restartWal();
      } finally {
        gate.unlock();
      }
    }
    const { log } = passiveCheckpoint.get() as { log: number };
    restartWanted = log >= RESTART_MIN_FRAMES;
  } catch (err) {
    send({ type: 'error', message: `checkpoint failed: ${(err as Error).message}` });
  }
}

/**
 * Holding the write gate, before this thread's next commit: copies the few frames written since the
 * passive checkpoint and waits (briefly) for readers to leave the WAL, so that this commit starts
 * it again. The commit that does so syncs the WAL's new header: here, not on the event loop.
 */
function restartWal() {
  restartWanted = false;
  try {
    sqlite.exec(`PRAGMA busy_timeout = ${RESTART_WAIT_MS}`);
    sqlite.exec('PRAGMA wal_checkpoint(RESTART)');
  } finally {
    sqlite.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  }
}

const inbox: ToWorker[] = [];
let wake: (() => void) | null = null;
let closing = false;

port.on('message', (msg: ToWorker) => {
  inbox.push(msg);
  wake?.();
});

async function run() {
  for (;;) {
    if (inbox.length) {
      const writes: WriteRequest[] = [];
      for (const msg of inbox.splice(0)) {
        if (msg.type === 'write') writes.push(msg);
        else if (msg.type === 'channels') setRoutes(msg.routes);
        else if (msg.type === 'ping') send({ type: 'pong', id: msg.id });
        else closing = true;
      }
      if (writes.length) commitGroup(writes);
      // Let requests that arrived during the commit join the next group.
      await yieldToEvents();
      continue;
    }
    if (closing) break;
    checkpointIfDue();
    // Idle: looked at again within a second, for a WAL that grows with the other threads' writes.
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, 1000);
    });
    clearTimeout(timer);
    wake = null;
  }
  releaseWal(data.sqlitePath);
  sqlite.close();
  data.stored.close();
  port.close();
}

run().catch((err) => {
  send({ type: 'error', message: (err as Error).stack ?? String(err) });
  process.exit(1);
});
