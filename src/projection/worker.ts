import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { enqueueOn } from '../queue/enqueue-on.ts';
import { openSqlite } from '../store/connection.ts';
import { useWriteGate } from '../store/write-gate.ts';
import { Projector } from './projector.ts';
import type { FromProjector, ProjectorData, ToProjector } from './protocol.ts';

// The projector thread: applies stored events to conversations, apart from the acknowledgement path.
// The ingest worker only appends to the event log and syncs; it tells this thread when it has, and
// never waits for it. Batches are as large as the backlog allows (up to BATCH events) but end as soon
// as another thread waits for the store's write gate, so acknowledgements and the main thread's
// writes never wait behind more than one event. Projected state needs no fsync of its own: it is
// derived from the event log, and the next durable commit syncs it anyway (a power loss only means
// applying again).

const port = parentPort!;
const data = workerData as ProjectorData;
const gate = useWriteGate(data.sqlitePath, data.gate, 'projector');
const sqlite = openSqlite(data.sqlitePath, { autocheckpoint: 0 });
const enqueue = enqueueOn(sqlite);
const projector = new Projector(sqlite, { enqueue: (job) => void enqueue(job) });

/** The most events one transaction applies, and the longest it takes when nobody waits. */
const BATCH = { maxEvents: 500, budgetMs: 50 };
/**
 * A batch keeps the write gate this long even when another thread waits for it, and batches start
 * at most this often: every commit writes whole pages to the WAL, so a transaction per event
 * (events come one group commit at a time) multiplied the writes and the CPU.
 */
const MIN_BATCH_MS = 2;
/**
 * While the previous batch left events behind, a batch keeps the gate this long: applying a few
 * events per commit, the projector fell seconds behind at 500 webhooks/s (BENCHMARKS.md, API).
 */
const CATCH_UP_BATCH_MS = 10;
/** How often the backlog is reported while there is one. */
const BACKLOG_EVERY_MS = 1000;
/** At close, the longest the backlog is worked on before the thread stops (the rest: next start). */
const CLOSE_DRAIN_MS = 2000;
/**
 * A batch that failed (a full disk, an I/O error) is tried again after a pause that doubles from the
 * first to the last, without waiting for new events to ask for it: at most 5 s after the store
 * works again, applying goes on (a try costs one small transaction).
 */
const RETRY_FIRST_MS = 100;
const RETRY_LAST_MS = 5_000;

let wanted = true; // events left unapplied by a previous run are applied at start
let closing = false;
let retryMs = RETRY_FIRST_MS;
/** When the failed batch is tried again (performance.now()); 0 while applying works. */
let retryAt = 0;
let lastBacklog = 0;
let lastBatch = 0;
let behind = false;
/** The last batch ended with events still unapplied. */
let leftBehind = false;
let wake: (() => void) | null = null;

const send = (msg: FromProjector) => port.postMessage(msg);

data.stored.on('message', () => {
  wanted = true;
  wake?.();
});
port.on('message', (msg: ToProjector) => {
  if (msg.type === 'ping') send({ type: 'pong', id: msg.id });
  else closing = true;
  wake?.();
});

const due = () => wanted && performance.now() >= retryAt;

/** One batch under the write gate; tells the main thread what changed. */
function applyOnce() {
  try {
    gate.lockSync();
    let applied: ReturnType<Projector['applyPending']>;
    try {
      const started = performance.now();
      const least = leftBehind ? CATCH_UP_BATCH_MS : MIN_BATCH_MS;
      applied = projector.applyPending({
        ...BATCH,
        yieldNow: () => performance.now() - started >= least && gate.othersWaiting(),
      });
    } finally {
      gate.unlock();
    }
    wanted = applied.more;
    leftBehind = applied.more;
    if (retryAt) {
      retryAt = 0;
      retryMs = RETRY_FIRST_MS;
      send({ type: 'apply-recovered' });
    }
    if (applied.events)
      send({
        type: 'applied',
        events: applied.events,
        conversations: applied.conversations,
        unapplied: applied.unapplied,
      });
  } catch (err) {
    // The batch rolled back: its events stay stored, unapplied, and are tried again.
    send({ type: 'apply-failed', message: (err as Error).message, retryInMs: retryMs });
    retryAt = performance.now() + retryMs;
    retryMs = Math.min(retryMs * 2, RETRY_LAST_MS);
  }
}

/** While events wait, and once when they no longer do: how many, and how long the oldest waits. */
function reportBacklog() {
  const now = performance.now();
  if (!wanted && !behind) return;
  if (wanted && now - lastBacklog < BACKLOG_EVERY_MS) return;
  lastBacklog = now;
  try {
    const backlog = projector.backlog();
    behind = backlog.events > 0;
    send({ type: 'backlog', ...backlog });
  } catch (err) {
    send({ type: 'error', message: `could not read the backlog: ${(err as Error).message}` });
  }
}

async function run() {
  for (;;) {
    if (closing) break;
    // New events within MIN_BATCH_MS of the last batch wait for the rest of it, to share a batch.
    const early = lastBatch + MIN_BATCH_MS - performance.now();
    if (due() && early > 0) {
      await new Promise((resolve) => setTimeout(resolve, early));
      continue;
    }
    if (due()) {
      applyOnce();
      lastBatch = performance.now();
      reportBacklog();
      await yieldToEvents(); // messages (new events, close) come in between batches
      continue;
    }
    reportBacklog();
    const wait = wanted ? Math.max(1, retryAt - performance.now()) : BACKLOG_EVERY_MS;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, wait);
    });
    clearTimeout(timer);
    wake = null;
  }
  // What the ingest worker stored before it closed is applied now, within a limit.
  const until = performance.now() + CLOSE_DRAIN_MS;
  wanted = true;
  while (due() && performance.now() < until) applyOnce();
  sqlite.close();
  data.stored.close();
  port.close();
}

run().catch((err) => {
  send({ type: 'error', message: (err as Error).stack ?? String(err) });
  process.exit(1);
});
