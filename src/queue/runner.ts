import type { Logger } from '../log.ts';
import type { Ended, Outcome } from './outcomes.ts';
import type { Job, JobHandler } from './queue.ts';

// The in-process side of a queue backend (the port's JobWorker: embedded.ts, postgres.ts drive it):
// the workers this process has, the handlers it runs, and its rounds. A round writes the outcomes of
// the jobs that ended and claims the jobs that may run now, in the backend's `round` (one
// transaction on SQLite; on PostgreSQL one statement when every job succeeded); this starts what
// it claimed and collects what ends. There is no loop: a round runs when the queue is woken (jobs
// were added or fell due) and when jobs end (those that end in one turn of the event loop share a
// round), one round at a time. The backend keeps its own timers and leases.

export interface Worker {
  queue: string;
  handler: JobHandler;
  concurrency: number;
  /** Jobs claimed whose outcome is not recorded yet. */
  running: number;
}

/** A handler's outcome waiting to be written, with the next claim (the backend's round). */
export interface Finished extends Ended {
  w: Worker;
  recorded: () => void;
}

/** The jobs a round claimed, by worker. */
export type Claimed = [Worker, Job[]][];

/** A worker's claim in a round: its queue, and how many of its jobs at most. */
export interface Wanted {
  w: Worker;
  queue: string;
  limit: number;
}

/** What woke a round: jobs may be claimable in every queue, or in these. */
export interface Woken {
  all: boolean;
  queues: ReadonlySet<string>;
}

/** The jobs `w` may claim in a round: its free slots, with those of its jobs in `ended` (written in it). */
export const freeSlots = (w: Worker, ended: readonly Finished[]): number =>
  w.concurrency - w.running + ended.filter((f) => f.w === w).length;

/** Whether `w`'s queue was woken (apart from its jobs that ended). */
export const wokenFor = (woken: Woken, w: Worker): boolean => woken.all || woken.queues.has(w.queue);

/** What the backend does for its runner. */
export interface RunnerBackend {
  /**
   * One round: writes the outcomes of `ended` and, if it claims, claims what the runner's
   * wanted() asks, answering with its claimed(); all or none, or the outcomes first (postgres.ts).
   * `claiming`: the workers that were woken or whose jobs ended (none once closed); `woken`: where
   * jobs were added or fell due since the last claim (wake()), or the last claim took as many as it
   * could. Null: there was nothing to do (no claim, nothing scheduled after).
   */
  round(ended: Finished[], claiming: Worker[], now: number, woken: Woken): Promise<Claimed | null>;
  /** Awaited before a round that may claim (the embedded queue takes back an earlier process's jobs). */
  beforeClaim?: () => Promise<void>;
  /** What the runner keeps for a job it starts (its `mine`): e.g. when its lease runs out. */
  holdOf(job: Job, claimedAt: number): number;
  /** A round with something to do starts (called before it does anything). */
  roundStarts?: () => void;
  /** After a round (not closed): sleeps until the next delayed job is due, or whatever else. */
  scheduleNext(claimedAt: number): Promise<void>;
  /** A round failed: run one again after `ms`. */
  retryIn(ms: number): void;
  /** Deletes the done jobs finished before `finishedBefore`; how many. */
  prune(finishedBefore: number): Promise<number>;
  /** Done jobs finished longer ago than this are deleted (null: kept). */
  keepDoneMs: number | null;
  now: () => number;
  log?: Logger;
}

/** Done jobs past their retention are deleted at most this often. */
const PRUNE_EVERY_MS = 3_600_000;

export class JobRunner {
  readonly #backend: RunnerBackend;
  readonly #workers = new Map<string, Worker>();
  /** One promise per claimed job: it settles once the job's outcome is written (or given up). */
  readonly #running = new Set<Promise<void>>();
  /** The jobs this process runs: id → what the backend holds them by (holdOf). */
  readonly mine = new Map<number, number>();
  #finished: Finished[] = [];
  #pumping: Promise<void> | null = null;
  #again = false;
  #wakeScheduled = false;
  /**
   * A claim may find jobs in every queue: jobs were added or fell due without saying where (a timer,
   * a poll, a lost wake-up). Otherwise only the queues in #dueQueues (woken by name, or whose last
   * claim took as many as it could) and those whose jobs ended (the next of their keys) are claimed:
   * each queue's claim is a search of its table (on PostgreSQL, of the round's claiming statement).
   */
  #claimAll = true;
  readonly #dueQueues = new Set<string>();
  #prunedAt = 0;
  #closed = false;
  /** The handlers' `stopping` (queue.ts, JobHandler). */
  readonly #stopping = new AbortController();

  constructor(backend: RunnerBackend) {
    this.#backend = backend;
  }

  /** Once closed, no more claims: only the outcomes of the jobs still running are written. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The queues this process works. */
  queues(): IterableIterator<string> {
    return this.#workers.keys();
  }

  works(queue: string): boolean {
    return this.#workers.has(queue);
  }

  /** Runs the queue's jobs with `handler` from the next claim (wake() it). */
  work(queue: string, handler: JobHandler, concurrency = 8): void {
    this.#workers.set(queue, { queue, handler, concurrency: Math.max(1, concurrency), running: 0 });
  }

  /** Jobs were added, retried or fell due (in `queues`, or anywhere): claim at the next round. */
  wake(...queues: string[]): void {
    if (this.#due(queues)) this.#kick();
  }

  /** As wake(), once the event loop has run what is ready (see #wakeSoon). */
  wakeSoon(...queues: string[]): void {
    if (this.#due(queues)) this.#wakeSoon();
  }

  /** Marks `queues` (none: every queue) for the next claim; false if this process works none of them. */
  #due(queues: readonly string[]): boolean {
    if (queues.length === 0) {
      this.#claimAll = true;
      return true;
    }
    let any = false;
    for (const queue of queues)
      if (this.#workers.has(queue)) {
        this.#dueQueues.add(queue);
        any = true;
      }
    return any;
  }

  /** Runs a round now (or once the one under way is done). */
  #kick(): void {
    if (this.#closed && this.#finished.length === 0) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = this.#pump()
      .catch((err) => {
        this.#backend.log?.error({ err }, 'queue: claiming jobs failed; trying again in 1 s');
        this.#backend.retryIn(1000);
      })
      .finally(() => {
        this.#pumping = null;
        if (this.#again) {
          this.#again = false;
          this.#kick();
        }
      });
  }

  /**
   * Wakes the queue once the event loop has run what is ready: the jobs that finish meanwhile are
   * recorded in one round (one commit, one claim) rather than a round each.
   */
  #wakeSoon(): void {
    if (this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    setImmediate(() => {
      this.#wakeScheduled = false;
      this.#kick();
    });
  }

  async #pump(): Promise<void> {
    const backend = this.#backend;
    const ended = this.#finished;
    this.#finished = [];
    const woken: Woken = { all: this.#claimAll, queues: new Set(this.#dueQueues) };
    const claiming = this.#closed
      ? []
      : [...this.#workers.values()].filter((w) => wokenFor(woken, w) || ended.some((f) => f.w === w));
    this.#claimAll = false;
    this.#dueQueues.clear();
    // Nothing to do: the timer set after the last round stands (a round clears it, roundStarts).
    if (ended.length === 0 && claiming.length === 0) return;
    backend.roundStarts?.();
    if (claiming.length > 0 && backend.beforeClaim) await backend.beforeClaim();
    // One time for the round: what was not due for the claim is what the timers wait for.
    const now = backend.now();
    let claimed: Claimed | null;
    try {
      claimed = await backend.round(ended, claiming, now, woken);
    } catch (err) {
      if (woken.all) this.#claimAll = true;
      for (const q of woken.queues) this.#dueQueues.add(q);
      for (const f of ended) this.#dueQueues.add(f.w.queue);
      if (this.#closed) {
        // Shutting down: the jobs stay active in the store, and run again (at the next start, or in
        // another process once their leases run out).
        backend.log?.error({ err, jobs: ended.map((f) => f.job.id) }, 'queue: could not record job outcomes');
        for (const f of ended) this.#release(f);
      } else {
        this.#finished = [...ended, ...this.#finished];
      }
      throw err;
    }
    if (claimed === null) return;
    for (const f of ended) this.#release(f);
    for (const [w, jobs] of claimed) for (const job of jobs) this.#start(w, job, now);
    if (this.#closed) return;
    await this.#prune();
    await backend.scheduleNext(now);
  }

  /**
   * In a round: what each worker of `claiming` claims, as many jobs as it has free slots (those of
   * its jobs in `ended` are free: their outcomes are written in this round). `due`: jobs may be due
   * (a full worker claims them at a later round).
   */
  wanted(claiming: Worker[], ended: Finished[], due: boolean): Wanted[] {
    const wanted: Wanted[] = [];
    for (const w of claiming) {
      const free = freeSlots(w, ended);
      if (free > 0) wanted.push({ w, queue: w.queue, limit: free });
      // Its jobs that were due still are: claim them once a slot is free.
      else if (due) this.#dueQueues.add(w.queue);
    }
    return wanted;
  }

  /** The jobs the backend claimed for `wanted` (by queue), by worker. */
  claimed(wanted: Wanted[], found: ReadonlyMap<string, Job[]>): Claimed {
    return wanted.map(({ w, limit }) => {
      const jobs = found.get(w.queue) ?? [];
      if (jobs.length === limit) this.#dueQueues.add(w.queue); // more may be waiting for a free slot
      return [w, jobs];
    });
  }

  #release(f: Finished) {
    f.w.running--;
    this.mine.delete(f.job.id);
    f.recorded();
  }

  #start(w: Worker, job: Job, claimedAt: number) {
    w.running++;
    this.mine.set(job.id, this.#backend.holdOf(job, claimedAt));
    const run = (async () => {
      let outcome: Outcome;
      try {
        outcome = { ok: true, result: await w.handler(job, this.#stopping.signal) };
      } catch (err) {
        outcome = { ok: false, err };
      }
      await new Promise<void>((recorded) => {
        this.#finished.push({ w, job, outcome, recorded });
        this.#wakeSoon();
      });
    })();
    this.#running.add(run);
    run.finally(() => this.#running.delete(run));
  }

  /** Deletes done jobs older than keepDoneMs, at most hourly. */
  async #prune(): Promise<void> {
    const { keepDoneMs } = this.#backend;
    if (keepDoneMs === null) return;
    const now = this.#backend.now();
    if (now - this.#prunedAt < PRUNE_EVERY_MS) return;
    this.#prunedAt = now;
    const n = await this.#backend.prune(now - keepDoneMs);
    if (n > 0) this.#backend.log?.info({ jobs: n }, 'queue: deleted old done jobs');
  }

  /** Resolves when no handler is running and no round is under way. */
  async idle(): Promise<void> {
    for (;;) {
      await this.#pumping;
      if (this.#running.size === 0 && !this.#pumping) return;
      await Promise.all([...this.#running]);
    }
  }

  /** Stops claiming and tells the running handlers (the backend may stop its timers, then drain()). */
  stop(): void {
    this.#closed = true;
    this.#stopping.abort();
  }

  /** Waits for the running handlers and writes their outcomes. */
  async drain(): Promise<void> {
    this.wake(); // outcomes waiting for a retry of their write are written now (or given up)
    await this.#pumping;
    await Promise.all([...this.#running]);
  }
}
