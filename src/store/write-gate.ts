import { resolve } from 'node:path';

// One writer at a time among the threads of this process that write to one SQLite file: the main
// thread (the queue, the engine, the sender, the API), which waits without blocking its event loop,
// and two worker threads, which wait blocking: the ingest worker (acknowledgements wait for its
// commits) and the projector (nobody waits for it). SQLite's own lock stays (other processes), but
// within igdm it is never contended, so no thread sleeps in SQLite's busy handler (1, 2, 5, 10 ...
// ms, while an event loop stands still), and a transaction that reads, then writes, is never
// refused because another thread wrote meanwhile.
//
// Who goes next when several wait: the ingest worker first (a webhook's acknowledgement waits for
// it), then the others in turn, never the one that just released the gate. The projector also
// shortens its own turns while others wait (othersWaiting).

export type GateParty = 'main' | 'ingest' | 'projector';
const PARTIES: Record<GateParty, number> = { main: 1, ingest: 2, projector: 3 };
const MAIN = PARTIES.main;
const INGEST = PARTIES.ingest;

// Int32 slots of the gate's shared memory.
const LOCK = 0; // 0 free, or the holder's number
const SEQ = 1; // bumped at each release: what waiters wait on
const TURN = 2; // who goes next (0: whoever comes first)
const WANTS = 3; // WANTS + n: party n waits
const SLOTS = WANTS + 4;

/** How long a statement waits for another connection's lock, and a thread for the write gate. */
export const BUSY_TIMEOUT_MS = 5000;
/** How long a blocking waiter leaves the gate to a main thread whose turn it is (its wake-up is a task). */
const MAIN_PATIENCE_MS = 2;

/** Atomics.waitAsync, keeping the process alive meanwhile (a pending waitAsync does not). */
async function waitAsync(s: Int32Array, index: number, value: number, ms: number): Promise<void> {
  const wait = Atomics.waitAsync(s, index, value, ms);
  if (!wait.async) return;
  const alive = setTimeout(() => {}, ms + 1);
  try {
    await wait.value;
  } finally {
    clearTimeout(alive);
  }
}

export class WriteGate {
  readonly buffer: SharedArrayBuffer;
  readonly #s: Int32Array;
  readonly #me: number;

  constructor(party: GateParty, buffer = new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT)) {
    this.buffer = buffer;
    this.#s = new Int32Array(buffer);
    this.#me = PARTIES[party];
  }

  #take(): boolean {
    const s = this.#s;
    const turn = Atomics.load(s, TURN);
    if (turn !== 0 && turn !== this.#me && Atomics.load(s, WANTS + turn)) return false;
    if (Atomics.compareExchange(s, LOCK, 0, this.#me) !== 0) return false;
    Atomics.store(s, TURN, 0);
    return true;
  }

  /** The main thread's wait: its event loop goes on meanwhile. */
  async lock(): Promise<void> {
    if (this.#take()) return;
    const s = this.#s;
    const deadline = Date.now() + BUSY_TIMEOUT_MS;
    Atomics.store(s, WANTS + this.#me, 1);
    try {
      for (;;) {
        const seq = Atomics.load(s, SEQ);
        if (this.#take()) return;
        if (Date.now() > deadline) throw new Error('database is locked (write gate)');
        await waitAsync(s, SEQ, seq, 50);
      }
    } finally {
      Atomics.store(s, WANTS + this.#me, 0);
    }
  }

  /** A worker's wait, blocking its thread. */
  lockSync(): void {
    if (this.#take()) return;
    const s = this.#s;
    const now = Date.now();
    const deadline = now + BUSY_TIMEOUT_MS;
    const patience = now + MAIN_PATIENCE_MS;
    Atomics.store(s, WANTS + this.#me, 1);
    try {
      for (;;) {
        const seq = Atomics.load(s, SEQ);
        if (this.#take()) return;
        // The main thread's turn, but it has not come for it yet (its event loop is busy).
        if (
          Atomics.load(s, TURN) === MAIN &&
          Date.now() > patience &&
          Atomics.compareExchange(s, LOCK, 0, this.#me) === 0
        ) {
          Atomics.store(s, TURN, 0);
          return;
        }
        if (Date.now() > deadline) throw new Error('database is locked (write gate)');
        Atomics.wait(s, SEQ, seq, 1);
      }
    } finally {
      Atomics.store(s, WANTS + this.#me, 0);
    }
  }

  /** Whether another party waits for the gate (the holder may cut its turn short). */
  othersWaiting(): boolean {
    const s = this.#s;
    for (const n of Object.values(PARTIES)) if (n !== this.#me && Atomics.load(s, WANTS + n)) return true;
    return false;
  }

  unlock(): void {
    const s = this.#s;
    const next = this.#next();
    if (next) Atomics.store(s, TURN, next);
    Atomics.store(s, LOCK, 0);
    Atomics.add(s, SEQ, 1);
    // A waiter says so before it reads SEQ: one that does after this sees the new SEQ and the gate free.
    if (this.othersWaiting()) Atomics.notify(s, SEQ);
  }

  /** Who goes next: the ingest worker if it waits, else the next waiting party after this one. */
  #next(): number {
    const s = this.#s;
    if (this.#me !== INGEST && Atomics.load(s, WANTS + INGEST)) return INGEST;
    const all = Object.values(PARTIES);
    for (let i = 1; i < all.length; i++) {
      const n = all[(all.indexOf(this.#me) + i) % all.length]!;
      if (Atomics.load(s, WANTS + n)) return n;
    }
    return 0;
  }
}

/** The gate of each database file this thread writes to (a worker registers the one it was given). */
const gates = new Map<string, WriteGate>();
const gateKey = (path: string) => (path === ':memory:' ? `:memory:${gates.size}` : resolve(path));

/** On the main thread: the gate of `path`, made on first use. */
export function writeGateFor(path: string): WriteGate {
  const key = gateKey(path);
  let gate = gates.get(key);
  if (!gate) {
    gate = new WriteGate('main');
    gates.set(key, gate);
  }
  return gate;
}

/** In a worker thread: the gate the main thread handed over for `path`, as `party`. */
export function useWriteGate(path: string, buffer: SharedArrayBuffer, party: GateParty): WriteGate {
  const gate = new WriteGate(party, buffer);
  gates.set(gateKey(path), gate);
  return gate;
}
