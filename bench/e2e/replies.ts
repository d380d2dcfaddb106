// Reply matching, the same for igdm and the baseline: the sandbox journals every Send API call with
// its arrival time; the runner follows that journal, matches each reply ("ack seq n") to its inbound
// event by text and recipient, waits for the missing ones after a phase, and turns it into figures.

import type { Events, Phase } from './load.ts';
import { log, options, sleep } from './options.ts';
import { json, type Setup } from './setup.ts';
import { type Distribution, distribution } from './stats.ts';
import type { Usage } from './usage.ts';

interface OutboxCall {
  seq: number;
  time: number;
  path: string;
  body: { recipient?: { id?: string }; message?: { text?: string } };
  answer: { status: number | null };
}

/**
 * Follows the sandbox's outbox (GET /sandbox/outbox?after=SEQ, the calls since the last read) and
 * matches each reply to its inbound event by its text ("ack seq n") and recipient.
 */
export class ReplyFollower {
  readonly #sandboxUrl: string;
  readonly #events: Events;
  readonly #igsidOf: (n: number) => string;
  #last = 0;
  #running = false;
  #loop: Promise<void> | null = null;
  /** The journal dropped calls before they were read (it keeps the newest 1000). */
  gaps = 0;
  /** Send API calls not answered 200. */
  refused = 0;
  /** Replies to no known event, or to the wrong customer. */
  strays = 0;
  wrongRecipient = 0;
  readErrors = 0;

  constructor(sandboxUrl: string, events: Events, igsidOf: (n: number) => string) {
    this.#sandboxUrl = sandboxUrl;
    this.#events = events;
    this.#igsidOf = igsidOf;
  }

  async #read(): Promise<void> {
    const r = await json(`${this.#sandboxUrl}/sandbox/outbox?after=${this.#last}`);
    if (r.status !== 200) throw new Error(`GET /sandbox/outbox answered ${r.status}`);
    const calls = (r.body as { data: OutboxCall[] }).data;
    if (calls.length === 0) return;
    if (this.#last > 0 && calls[0]!.seq > this.#last + 1) this.gaps += calls[0]!.seq - this.#last - 1;
    this.#last = calls.at(-1)!.seq;
    const e = this.#events;
    for (const call of calls) {
      if (!call.path.endsWith('/messages')) continue;
      if (call.answer.status !== 200) {
        this.refused++;
        continue;
      }
      const match = /^ack seq (\d+)$/.exec(call.body.message?.text ?? '');
      const n = match ? Number(match[1]) : -1;
      if (n < 0 || e.sentAt[n] === undefined) {
        this.strays++;
        continue;
      }
      if (call.body.recipient?.id !== this.#igsidOf(n)) this.wrongRecipient++;
      e.replies[n] = (e.replies[n] ?? 0) + 1;
      if (e.replies[n] === 1) e.replyAt[n] = call.time;
    }
  }

  /** Reads every `intervalMs` until stopped. */
  start(intervalMs: number): void {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        try {
          await this.#read();
        } catch (error) {
          this.readErrors++;
          if (this.readErrors <= 3) log(`reading the sandbox outbox: ${(error as Error).message}`);
        }
        await sleep(intervalMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
    await this.#read(); // the last calls
  }

  counts() {
    return {
      gaps: this.gaps,
      refused: this.refused,
      strays: this.strays,
      wrongRecipient: this.wrongRecipient,
      readErrors: this.readErrors,
    };
  }
}

/**
 * Waits for every acknowledgement, then for the reply to every acknowledged event: until all are in,
 * or none has come for BENCH_E2E_DRAIN seconds (the rest are lost), or `maxS` seconds have passed
 * (the rest are late: still coming when the run was cut).
 */
export async function drain(
  setup: Setup,
  events: Events,
  phase: Phase,
  maxS = options.drainMaxS,
): Promise<{ cut: boolean }> {
  const started = Date.now();
  let lastProgress = Date.now();
  let lastWaiting = Number.POSITIVE_INFINITY;
  for (;;) {
    let waiting = events.inFlight;
    for (let n = phase.from; n < phase.to; n++) {
      const s = events.status[n]!;
      if (s >= 200 && s < 300 && !(events.replyAt[n]! >= 0)) waiting++;
    }
    if (waiting === 0) return { cut: false };
    if (waiting < lastWaiting) {
      lastWaiting = waiting;
      lastProgress = Date.now();
    }
    for (const c of setup.children)
      if (c.exited) throw new Error(`${c.name} ${c.exitDescription} during the run`);
    if (Date.now() - lastProgress > options.drainS * 1000) return { cut: false };
    if (Date.now() - started > maxS * 1000) {
      log(`${waiting} replies still to come after ${maxS} s: cut`);
      return { cut: true };
    }
    await sleep(100);
  }
}

export interface Figures {
  rate: number;
  seconds: number;
  sent: number;
  /** POSTs per second actually made (measured window). */
  sendRate: number;
  acked: number;
  /** Non-2xx answers and network errors. */
  ackFailed: number;
  replied: number;
  /** Acknowledged events with no reply once replies had stopped coming. */
  lost: number;
  /** Acknowledged events with no reply yet when the drain was cut (BENCH_E2E_DRAIN_MAX). */
  late: number;
  /** Replies beyond the first for an event. */
  duplicated: number;
  /** Replies per second: replied / (last reply − first POST) of the measured events. */
  replyRate: number;
  /** Replies that reached the sandbox within the measured window (of any event). */
  windowReplies: number;
  /** The system's CPU-seconds in the window per 1000 replies that reached the sandbox in it. */
  cpuPer1000: number;
  /** Inbound POST → reply at the Send API, whole milliseconds. */
  e2eMs: Distribution;
  /** Inbound POST → the system's 200 (igdm: the event on disk; the baseline: its job in Redis). */
  ackMs: Distribution;
  generatorLag: number;
  usage: Usage;
  /** Resident memory of the system's own processes (not Redis). */
  rss: { rssMB: number; peakRssMB: number };
}

export function figures(setup: Setup, events: Events, phase: Phase, cut: boolean): Figures {
  const e2e: number[] = [];
  const ack: number[] = [];
  let acked = 0;
  let ackFailed = 0;
  let replied = 0;
  let lost = 0;
  let duplicated = 0;
  let firstSent = Number.POSITIVE_INFINITY;
  let lastSent = Number.NEGATIVE_INFINITY;
  let lastReply = Number.NEGATIVE_INFINITY;
  for (let n = phase.measuredFrom; n < phase.to; n++) {
    const s = events.status[n]!;
    firstSent = Math.min(firstSent, events.sentAt[n]!);
    lastSent = Math.max(lastSent, events.sentAt[n]!);
    if (s >= 200 && s < 300) {
      acked++;
      ack.push(events.ackMs[n]!);
    } else ackFailed++;
    const r = events.replies[n]!;
    if (r > 0) {
      replied++;
      duplicated += r - 1;
      e2e.push(events.replyAt[n]! - events.sentAt[n]!);
      lastReply = Math.max(lastReply, events.replyAt[n]!);
    } else if (s >= 200 && s < 300) lost++;
  }
  const { fromMs, toMs } = phase.usage;
  let windowReplies = 0;
  for (const at of events.replyAt) if (at >= fromMs && at <= toMs) windowReplies++;
  const sent = phase.to - phase.measuredFrom;
  const late = cut ? lost : 0;
  if (cut) lost = 0;
  return {
    rate: phase.rate,
    seconds: phase.usage.seconds,
    sent,
    sendRate: Number((sent / ((lastSent - firstSent) / 1000 + 1 / phase.rate)).toFixed(1)),
    acked,
    ackFailed,
    replied,
    lost,
    late,
    duplicated,
    replyRate: Number((replied / ((lastReply - firstSent) / 1000)).toFixed(1)),
    windowReplies,
    cpuPer1000: Number(((phase.usage.systemCpuS / windowReplies) * 1000).toFixed(3)),
    e2eMs: distribution(e2e),
    ackMs: distribution(ack),
    generatorLag: phase.generatorLag,
    usage: phase.usage,
    rss: setup.system.rss(),
  };
}
