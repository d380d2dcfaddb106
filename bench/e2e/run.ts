// End-to-end benchmark: a customer's message in, the automated reply out, on the embedded default
// (SQLite store, embedded queue) with a standalone sandbox as the Graph API. Each inbound event is a
// signed webhook POSTed at a fixed open-loop rate; its latency runs from the POST to the moment the
// reply reaches the sandbox's Send API (the arrival time the sandbox records). See README.md beside
// this file.
//
//   npm run bench:e2e
//   BENCH_E2E_MODE=fixed BENCH_E2E_RATE=300 npm run bench:e2e
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { README_CONFIG } from '../../test/support/readme.ts';
import {
  type Child,
  cpuSeconds,
  envNumber,
  fixed,
  freePort,
  machine,
  machineSeconds,
  startChild,
  statusMB,
  stopChild,
  textTable,
} from '../support.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const HOST = '127.0.0.1';
const API_KEY = 'bench-key-0123456789abcdef';
const APP_SECRET = 'bench-e2e-app-secret';
const ACCESS_TOKEN = 'bench-e2e-access-token';
const VERIFY_TOKEN = 'bench-e2e-verify-token';
const ACCOUNT_ID = '17841400000000002';
/** Both Send API limits, igdm's and the sandbox's, are lifted to this (Meta's is 100/s per account). */
const LIFTED = 100_000;

type Mode = 'both' | 'fixed' | 'ramp';
const mode = (process.env.BENCH_E2E_MODE || 'both') as Mode;
if (!['both', 'fixed', 'ramp'].includes(mode)) {
  console.error(`BENCH_E2E_MODE must be both, fixed or ramp, got ${JSON.stringify(mode)}`);
  process.exit(2);
}

const options = {
  mode,
  /** Inbound events per second in the fixed run. */
  rate: envNumber('BENCH_E2E_RATE', 500),
  /** Measured seconds of the fixed run, after the warm-up at the same rate. */
  durationS: envNumber('BENCH_E2E_DURATION', 20),
  warmupS: envNumber('BENCH_E2E_WARMUP', 5),
  /** Customers the events are spread over (round robin). */
  conversations: Math.round(envNumber('BENCH_E2E_CONVERSATIONS', 1000)),
  /** The ramp's first rate, and the factor from one step to the next. */
  rampStart: envNumber('BENCH_E2E_RAMP_START', 25),
  rampFactor: envNumber('BENCH_E2E_RAMP_FACTOR', 1.5),
  rampMax: envNumber('BENCH_E2E_RAMP_MAX', 5000),
  /** Measured seconds of each ramp step (after 2 s at the step's rate). */
  rampStepS: envNumber('BENCH_E2E_RAMP_SECONDS', 8),
  /** A ramp step holds while p99 stays within this. */
  p99LimitMs: envNumber('BENCH_E2E_P99_MS', 60),
  /** Seconds after the last POST that replies may still arrive. */
  drainS: envNumber('BENCH_E2E_DRAIN', 15),
  /** The longest the drain after a phase may take, however steadily replies still come. */
  drainMaxS: envNumber('BENCH_E2E_DRAIN_MAX', 120),
  /** The checkout igdm runs from (another commit, for a baseline); the sandbox is always this one. */
  igdmRoot: path.resolve(process.env.BENCH_E2E_IGDM_ROOT || ROOT),
  /** More environment for igdm, as NAME=value pairs separated by spaces (experiments). */
  igdmEnv: Object.fromEntries(
    (process.env.BENCH_E2E_IGDM_ENV ?? '')
      .split(/\s+/)
      .filter((pair) => pair.includes('='))
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
  ) as Record<string, string>,
  /** CPU profiles of igdm (--cpu-prof) land here, when set. */
  profileDir: process.env.BENCH_E2E_PROFILE_DIR ? path.resolve(process.env.BENCH_E2E_PROFILE_DIR) : '',
};

/**
 * The README's automation example, its rules only (no AI): every inbound "seq N" goes through the
 * keyword rules to `echo`.
 */
const AUTOMATION = README_CONFIG.slice(0, README_CONFIG.indexOf('\nai:') + 1);

const log = (message: string): void => {
  process.stderr.write(`[bench:e2e] ${message}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

interface Distribution {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

function distribution(values: number[]): Distribution {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const round = (v: number) => Number(v.toFixed(2));
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? Number.NaN),
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
  };
}

/** Cores the rest of the machine keeps busy over one second while the runner idles. */
async function backgroundCores(): Promise<number> {
  const m0 = machineSeconds().busy;
  const s0 = cpuSeconds('self');
  await sleep(1000);
  return Number((machineSeconds().busy - m0 - (cpuSeconds('self') - s0)).toFixed(2));
}

function loadAverage(): string {
  return os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');
}

// ---------------------------------------------------------------- the sandbox and igdm

async function json(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

async function until(what: string, child: Child[], timeoutMs: number, check: () => Promise<boolean>) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    for (const c of child)
      if (c.exited) throw new Error(`${c.name} ${c.exitDescription} (waiting for ${what})`);
    try {
      if (await check()) return;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (${last})` : ''}`);
}

class Pair {
  readonly sandbox: Child;
  readonly igdm: Child;
  readonly sandboxUrl: string;
  readonly igdmUrl: string;
  readonly igdmPort: number;
  readonly dir: string;
  readonly dbPath: string;

  private constructor(sandbox: Child, igdm: Child, sandboxPort: number, igdmPort: number, dir: string) {
    this.sandbox = sandbox;
    this.igdm = igdm;
    this.sandboxUrl = `http://${HOST}:${sandboxPort}`;
    this.igdmUrl = `http://${HOST}:${igdmPort}`;
    this.igdmPort = igdmPort;
    this.dir = dir;
    this.dbPath = path.join(dir, 'igdm.sqlite');
  }

  static async start(label: string): Promise<Pair> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'igdm-bench-e2e-'));
    const sandboxPort = await freePort();
    const igdmPort = await freePort();
    const credentials = {
      META_APP_SECRET: APP_SECRET,
      WEBHOOK_VERIFY_TOKEN: VERIFY_TOKEN,
      INSTAGRAM_ACCESS_TOKEN: ACCESS_TOKEN,
      INSTAGRAM_USER_ID: ACCOUNT_ID,
      LOG_LEVEL: 'warn',
    };
    const sandbox = startChild(
      'sandbox',
      [
        'bin/igdm.mjs',
        'sandbox',
        '--port',
        String(sandboxPort),
        '--host',
        HOST,
        '--webhook',
        `http://${HOST}:${igdmPort}/webhooks/meta`,
      ],
      { ...credentials, SANDBOX_SEND_PER_SECOND: String(LIFTED), SANDBOX_MEDIA_PER_SECOND: String(LIFTED) },
    );
    const config = path.join(dir, 'automation.yaml');
    writeFileSync(config, AUTOMATION);
    if (options.profileDir) mkdirSync(options.profileDir, { recursive: true });
    const igdm = startChild(
      'igdm',
      [
        '--max-semi-space-size=4', // as npm start
        ...(options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : []),
        'bin/igdm.mjs',
        'start',
      ],
      {
        ...credentials,
        PORT: String(igdmPort),
        HOST,
        DATABASE_URL: `sqlite:${path.join(dir, 'igdm.sqlite')}`,
        IGDM_API_KEY: API_KEY,
        IGDM_CONFIG: config,
        INSTAGRAM_GRAPH_API_URL: `http://${HOST}:${sandboxPort}/sandbox/graph`,
        IGDM_RATE_SEND_PER_SECOND: String(LIFTED),
        IGDM_RATE_MEDIA_PER_SECOND: String(LIFTED),
        ...options.igdmEnv,
      },
      options.igdmRoot,
    );
    const pair = new Pair(sandbox, igdm, sandboxPort, igdmPort, dir);
    log(`${label}: sandbox on ${pair.sandboxUrl}, igdm on ${pair.igdmUrl} (from ${options.igdmRoot})`);
    try {
      await until('the sandbox', [sandbox], 30_000, async () => {
        return (await json(`${pair.sandboxUrl}/sandbox/customers`)).status === 200;
      });
      await until('igdm /readyz', [igdm, sandbox], 60_000, async () => {
        return (await json(`${pair.igdmUrl}/readyz`)).status === 200;
      });
    } catch (error) {
      await pair.stop(true);
      throw error;
    }
    return pair;
  }

  api(pathname: string): Promise<{ status: number; body: unknown }> {
    return json(this.igdmUrl + pathname, { headers: { authorization: `Bearer ${API_KEY}` } });
  }

  /** The engine's queue is empty (every job done). */
  async queueCounts(): Promise<{ ready: number; active: number; done: number; dead: number }> {
    const r = await this.api('/v1/jobs?limit=1');
    if (r.status !== 200) throw new Error(`GET /v1/jobs answered ${r.status}`);
    return (r.body as { counts: { ready: number; active: number; done: number; dead: number } }).counts;
  }

  /** The customers write once (opening their windows at the sandbox); igdm handles those events. */
  async register(igsids: string[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < igsids.length) {
        const igsid = igsids[next++]!;
        const r = await json(`${this.sandboxUrl}/sandbox/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ from: igsid, text: 'hello' }),
        });
        const body = r.body as { igsid?: string; delivered?: { status: number } };
        if (r.status !== 200 || body.igsid !== igsid || body.delivered?.status !== 200)
          throw new Error(`POST /sandbox/messages answered ${r.status}: ${JSON.stringify(r.body)}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    await until('igdm to handle the first messages', [this.igdm, this.sandbox], 60_000, async () => {
      const c = await this.queueCounts();
      return c.ready === 0 && c.active === 0 && c.done >= igsids.length;
    });
  }

  rss(): { rssMB: number; peakRssMB: number } {
    const pid = this.igdm.process.pid!;
    return { rssMB: statusMB(pid, 'VmRSS'), peakRssMB: statusMB(pid, 'VmHWM') };
  }

  async stop(keepDir = false): Promise<void> {
    await stopChild(this.igdm);
    await stopChild(this.sandbox);
    if (!keepDir && !process.env.BENCH_E2E_KEEP) rmSync(this.dir, { recursive: true, force: true });
    else log(`store kept in ${this.dir}`);
  }
}

// ---------------------------------------------------------------- inbound events and replies

/** Every inbound event of one igdm, by its number n (its text is "seq n"). */
class Events {
  /** Date.now() when the POST was made (whole ms, the clock the sandbox records arrivals with). */
  readonly sentAt: number[] = [];
  /** performance.now() at the POST, for the acknowledgement latency. */
  readonly sentHr: number[] = [];
  readonly ackMs: number[] = [];
  /** HTTP status of the acknowledgement; 0 while waiting, -1 on a network error. */
  readonly status: number[] = [];
  /** When the first reply reached the sandbox (its clock); NaN until then. */
  readonly replyAt: number[] = [];
  readonly replies: number[] = [];
  inFlight = 0;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

function webhookBody(n: number, igsid: string, now: number): string {
  const mid = Buffer.from(`ig_item:1:IGMessageID:${ACCOUNT_ID}:${now}${n}`).toString('base64url');
  return JSON.stringify({
    object: 'instagram',
    entry: [
      {
        time: now,
        id: ACCOUNT_ID,
        messaging: [
          {
            sender: { id: igsid },
            recipient: { id: ACCOUNT_ID },
            timestamp: now,
            message: { mid, text: `seq ${n}` },
          },
        ],
      },
    ],
  });
}

/** POSTs inbound event n as Meta would: signed, JSON, one messaging item. */
function postEvent(events: Events, port: number, n: number, igsid: string): void {
  const now = Date.now();
  const body = Buffer.from(webhookBody(n, igsid, now));
  const signature = `sha256=${createHmac('sha256', APP_SECRET).update(body).digest('hex')}`;
  events.sentAt[n] = now;
  events.sentHr[n] = performance.now();
  events.status[n] = 0;
  events.ackMs[n] = Number.NaN;
  events.replyAt[n] ??= Number.NaN;
  events.replies[n] ??= 0;
  events.inFlight++;
  const done = (status: number) => {
    events.status[n] = status;
    events.ackMs[n] = performance.now() - events.sentHr[n]!;
    events.inFlight--;
  };
  const req = http.request(
    {
      host: HOST,
      port,
      path: '/webhooks/meta',
      method: 'POST',
      agent,
      headers: {
        'content-type': 'application/json',
        'content-length': body.length,
        'user-agent': 'facebookexternalua',
        'x-hub-signature-256': signature,
      },
    },
    (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
      res.on('error', () => done(-1));
    },
  );
  req.setTimeout(20_000, () => req.destroy(new Error('no answer in 20 s')));
  req.on('error', () => {
    if (events.status[n] === 0) done(-1);
  });
  req.end(body);
}

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
class ReplyFollower {
  readonly #pair: Pair;
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

  constructor(pair: Pair, events: Events, igsidOf: (n: number) => string) {
    this.#pair = pair;
    this.#events = events;
    this.#igsidOf = igsidOf;
  }

  async #read(): Promise<void> {
    const r = await json(`${this.#pair.sandboxUrl}/sandbox/outbox?after=${this.#last}`);
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
}

// ---------------------------------------------------------------- one load phase

interface Usage {
  seconds: number;
  /** CPU in cores: igdm (both threads), the sandbox, this runner, the machine, and what is left. */
  cores: { igdm: number; sandbox: number; runner: number; machine: number; other: number; steal: number };
  loadBefore: string;
  loadAfter: string;
}

class UsageMeter {
  readonly #pair: Pair;
  #t0 = 0;
  #igdm = 0;
  #sandbox = 0;
  #self = 0;
  #machine = { busy: 0, steal: 0 };
  #load = '';

  constructor(pair: Pair) {
    this.#pair = pair;
  }

  start(): void {
    this.#t0 = performance.now();
    this.#igdm = cpuSeconds(this.#pair.igdm.process.pid!);
    this.#sandbox = cpuSeconds(this.#pair.sandbox.process.pid!);
    this.#self = cpuSeconds('self');
    this.#machine = machineSeconds();
    this.#load = loadAverage();
  }

  stop(): Usage {
    const seconds = (performance.now() - this.#t0) / 1000;
    const igdm = (cpuSeconds(this.#pair.igdm.process.pid!) - this.#igdm) / seconds;
    const sandbox = (cpuSeconds(this.#pair.sandbox.process.pid!) - this.#sandbox) / seconds;
    const runner = (cpuSeconds('self') - this.#self) / seconds;
    const m = machineSeconds();
    const busy = (m.busy - this.#machine.busy) / seconds;
    const r = (v: number) => Number(v.toFixed(2));
    return {
      seconds: r(seconds),
      cores: {
        igdm: r(igdm),
        sandbox: r(sandbox),
        runner: r(runner),
        machine: r(busy),
        other: r(Math.max(0, busy - igdm - sandbox - runner)),
        steal: r((m.steal - this.#machine.steal) / seconds),
      },
      loadBefore: this.#load,
      loadAfter: loadAverage(),
    };
  }
}

interface Phase {
  rate: number;
  /** Events [from, to) were sent; [measuredFrom, to) are measured. */
  from: number;
  measuredFrom: number;
  to: number;
  /** Most events the generator was behind its schedule at a tick. */
  generatorLag: number;
  usage: Usage;
}

/** Sends events at `rate` for warmupS + seconds (open loop: the schedule never waits for answers). */
async function drive(
  pair: Pair,
  events: Events,
  igsids: string[],
  rate: number,
  warmupS: number,
  seconds: number,
): Promise<Phase> {
  const from = events.sentAt.length;
  const warmup = Math.round(rate * warmupS);
  const total = warmup + Math.round(rate * seconds);
  const meter = new UsageMeter(pair);
  if (warmup === 0) meter.start();
  let sent = 0;
  let lag = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - t0;
      const due = Math.min(total, Math.floor((elapsed / 1000) * rate) + 1);
      lag = Math.max(lag, due - sent);
      while (sent < due) {
        if (sent === warmup && warmup > 0) meter.start();
        const n = from + sent;
        postEvent(events, pair.igdmPort, n, igsids[n % igsids.length]!);
        sent++;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, Math.max(1, (sent / rate) * 1000 - (performance.now() - t0)));
    };
    tick();
  });
  return {
    rate,
    from,
    measuredFrom: from + warmup,
    to: from + total,
    generatorLag: lag,
    usage: meter.stop(),
  };
}

/** Waits for every acknowledgement, then for the reply to every acknowledged event (or the drain time). */
/**
 * Waits for every acknowledgement, then for the reply to every acknowledged event: until all are in,
 * or none has come for BENCH_E2E_DRAIN seconds (the rest are lost), or BENCH_E2E_DRAIN_MAX seconds
 * have passed (the rest are late: still coming when the run was cut).
 */
async function drain(
  pair: Pair,
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
    if (pair.igdm.exited) throw new Error(`igdm ${pair.igdm.exitDescription} during the run`);
    if (Date.now() - lastProgress > options.drainS * 1000) return { cut: false };
    if (Date.now() - started > maxS * 1000) {
      log(`${waiting} replies still to come after ${maxS} s: cut`);
      return { cut: true };
    }
    await sleep(100);
  }
}

interface Figures {
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
  /** Inbound POST → reply at the Send API, whole milliseconds. */
  e2eMs: Distribution;
  /** Inbound POST → igdm's 200 (events durably stored), the baseline. */
  ackMs: Distribution;
  generatorLag: number;
  usage: Usage;
  igdm: { rssMB: number; peakRssMB: number };
}

function figures(pair: Pair, events: Events, phase: Phase, cut: boolean): Figures {
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
    e2eMs: distribution(e2e),
    ackMs: distribution(ack),
    generatorLag: phase.generatorLag,
    usage: phase.usage,
    igdm: pair.rss(),
  };
}

// ---------------------------------------------------------------- where the time goes

interface Stages {
  /** Per measured event, in whole ms (igdm's clock, Date.now): each stage's distribution. */
  postToReceived: Distribution;
  receivedToApplied: Distribution;
  appliedToQueued: Distribution;
  queuedToSandbox: Distribution;
  /** The job's end (after queueSend) − the outbox row's creation: the rest of the engine's job. */
  jobEndAfterQueued: Distribution;
}

/**
 * From igdm's store after the run: when each measured event was received (HTTP thread), applied
 * (ingest worker), its reply queued (the engine's outbox row) and sent. Costs igdm nothing: these
 * times are columns it keeps anyway.
 */
function stages(dbPath: string, events: Events, phase: Phase): Stages | undefined {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(dbPath, { readOnly: true });
    const rows = db
      .prepare(
        `select e.payload, e.received_at, e.applied_at, o.created_at as queued_at, j.finished_at
         from webhook_events e
         left join outbox o on o.caused_by = e.dedup_key || '#echo'
         left join jobs j on j.dedup_key = 'engine:' || e.dedup_key
         where e.kind = 'message'`,
      )
      .all() as {
      payload: string;
      received_at: number;
      applied_at: number | null;
      queued_at: number | null;
      finished_at: number | null;
    }[];
    const s = {
      postToReceived: [] as number[],
      receivedToApplied: [] as number[],
      appliedToQueued: [] as number[],
      queuedToSandbox: [] as number[],
      jobEndAfterQueued: [] as number[],
    };
    for (const row of rows) {
      const match = /"text":"seq (\d+)"/.exec(row.payload);
      if (!match) continue;
      const n = Number(match[1]);
      if (n < phase.measuredFrom || n >= phase.to) continue;
      const num = (v: number | null) => (v === null ? Number.NaN : Number(v));
      s.postToReceived.push(num(row.received_at) - events.sentAt[n]!);
      s.receivedToApplied.push(num(row.applied_at) - num(row.received_at));
      s.appliedToQueued.push(num(row.queued_at) - num(row.applied_at));
      s.queuedToSandbox.push(events.replyAt[n]! - num(row.queued_at));
      s.jobEndAfterQueued.push(num(row.finished_at) - num(row.queued_at));
    }
    return {
      postToReceived: distribution(s.postToReceived),
      receivedToApplied: distribution(s.receivedToApplied),
      appliedToQueued: distribution(s.appliedToQueued),
      queuedToSandbox: distribution(s.queuedToSandbox),
      jobEndAfterQueued: distribution(s.jobEndAfterQueued),
    };
  } catch (error) {
    log(`stages: ${(error as Error).message}`);
    return undefined;
  } finally {
    db?.close();
  }
}

// ---------------------------------------------------------------- the runs

interface FixedResult {
  ok: boolean;
  error?: string;
  figures?: Figures;
  stages?: Stages;
  follower?: { gaps: number; refused: number; strays: number; wrongRecipient: number; readErrors: number };
  storeMB?: number;
  verdict?: { p50: boolean; p99: boolean; noLoss: boolean };
  /** The last lines igdm logged (LOG_LEVEL=warn). */
  igdmLog?: string[];
}

interface RampStep {
  figures: Figures;
  holds: boolean;
  why: string[];
}

interface RampResult {
  ok: boolean;
  error?: string;
  steps: RampStep[];
  /** The highest rate that held. */
  maxSustained?: number;
}

const igsidList = (count: number): string[] =>
  Array.from({ length: count }, (_, i) => String(9_100_000_000_000_000 + i * 7919));

async function withPair<T>(
  label: string,
  run: (pair: Pair, events: Events, follower: ReplyFollower, igsids: string[]) => Promise<T>,
): Promise<T> {
  const igsids = igsidList(options.conversations);
  const pair = await Pair.start(label);
  const events = new Events();
  const follower = new ReplyFollower(pair, events, (n) => igsids[n % igsids.length]!);
  try {
    log(`${label}: ${igsids.length} customers write first`);
    await pair.register(igsids);
    await sleep(1000); // their profile lookups settle
    follower.start(50);
    return await run(pair, events, follower, igsids);
  } catch (error) {
    const output = pair.igdm.output.trim().split('\n').slice(-20).join('\n');
    if (output !== '') log(`igdm output (last lines):\n${output}`);
    throw error;
  } finally {
    await follower.stop().catch(() => {});
    await pair.stop();
  }
}

async function fixedRun(): Promise<FixedResult> {
  try {
    return await withPair('fixed', async (pair, events, follower, igsids) => {
      log(
        `fixed: ${options.warmupS} s warm-up, then ${options.durationS} s at ${options.rate}/s (load ${loadAverage()})`,
      );
      const phase = await drive(pair, events, igsids, options.rate, options.warmupS, options.durationS);
      const { cut } = await drain(pair, events, phase);
      await follower.stop();
      const f = figures(pair, events, phase, cut);
      const storeMB = ['', '-wal'].reduce((sum, suffix) => {
        try {
          return sum + statSync(pair.dbPath + suffix).size / 1e6;
        } catch {
          return sum;
        }
      }, 0);
      await stopChild(pair.igdm); // the store is complete and closed
      const igdmLog = pair.igdm.output.trim().split('\n').filter(Boolean).slice(-20);
      const result: FixedResult = {
        igdmLog,
        ok: f.lost === 0 && f.duplicated === 0 && f.ackFailed === 0 && follower.gaps === 0,
        figures: f,
        stages: stages(pair.dbPath, events, phase),
        follower: {
          gaps: follower.gaps,
          refused: follower.refused,
          strays: follower.strays,
          wrongRecipient: follower.wrongRecipient,
          readErrors: follower.readErrors,
        },
        storeMB: Number(storeMB.toFixed(1)),
        verdict: {
          p50: f.e2eMs.p50 <= 15,
          p99: f.e2eMs.p99 <= 60,
          noLoss: f.lost === 0 && f.duplicated === 0,
        },
      };
      if (!result.ok)
        result.error = `lost ${f.lost}, duplicated ${f.duplicated}, not acknowledged ${f.ackFailed}, journal gaps ${follower.gaps}`;
      return result;
    });
  } catch (error) {
    log(`fixed: FAILED: ${(error as Error).message}`);
    return { ok: false, error: (error as Error).message };
  }
}

async function rampRun(): Promise<RampResult> {
  const result: RampResult = { ok: false, steps: [] };
  try {
    await withPair('ramp', async (pair, events, _follower, igsids) => {
      for (
        let rate = options.rampStart;
        rate <= options.rampMax;
        rate = Math.round(rate * Math.max(1.05, options.rampFactor))
      ) {
        log(`ramp: ${rate}/s for 2 + ${options.rampStepS} s (load ${loadAverage()})`);
        const phase = await drive(pair, events, igsids, rate, 2, options.rampStepS);
        // A step that cannot keep up is the last: its backlog need not drain to the end.
        const { cut } = await drain(pair, events, phase, 60);
        await sleep(200);
        const f = figures(pair, events, phase, cut);
        const why: string[] = [];
        if (f.e2eMs.p99 > options.p99LimitMs) why.push(`p99 ${f.e2eMs.p99} ms > ${options.p99LimitMs}`);
        if (f.replyRate < 0.97 * rate) why.push(`replies ${f.replyRate}/s < 97 % of ${rate}/s`);
        if (f.lost > 0) why.push(`${f.lost} lost`);
        if (f.late > 0) why.push(`${f.late} still unanswered after 60 s`);
        if (f.duplicated > 0) why.push(`${f.duplicated} duplicated`);
        if (f.ackFailed > 0) why.push(`${f.ackFailed} not acknowledged`);
        if (f.sendRate < 0.97 * rate) why.push(`generator reached only ${f.sendRate}/s`);
        const holds = why.length === 0;
        result.steps.push({ figures: f, holds, why });
        log(
          `ramp: ${rate}/s → p50 ${f.e2eMs.p50} / p99 ${f.e2eMs.p99} ms, replies ${f.replyRate}/s, igdm ${f.usage.cores.igdm} cores: ${holds ? 'holds' : why.join('; ')}`,
        );
        if (!holds) break;
        if (f.lost > 0) break;
        await sleep(1000);
      }
    });
    const held = result.steps.filter((s) => s.holds);
    if (held.length) result.maxSustained = held.at(-1)!.figures.rate;
    result.ok = true;
  } catch (error) {
    result.error = (error as Error).message;
    log(`ramp: FAILED: ${result.error}`);
  }
  return result;
}

// ---------------------------------------------------------------- report

function commandLine(): string {
  const set = Object.keys(process.env)
    .filter((name) => name.startsWith('BENCH_E2E_') && (process.env[name] ?? '') !== '')
    .sort()
    .map((name) => `${name}=${process.env[name]}`);
  return [...set, 'npm run bench:e2e'].join(' ');
}

const ms = (d: Distribution) =>
  `${fixed(d.p50, 1)} / ${fixed(d.p90, 1)} / ${fixed(d.p99, 1)} / ${fixed(d.max, 0)}`;

const HEAD = [
  'run',
  'rate (/s)',
  'replied / sent',
  'lost',
  'late',
  'dup',
  'replies/s',
  'e2e p50 / p90 / p99 / max (ms)',
  'ack p50 / p90 / p99 / max (ms)',
  'e2e/ack p50, p99',
  'CPU igdm / sandbox / runner / other (cores)',
  'igdm RSS / peak (MB)',
  'load before → after',
];

function row(name: string, f: Figures): string[] {
  const c = f.usage.cores;
  return [
    name,
    String(f.rate),
    `${f.replied} / ${f.sent}`,
    String(f.lost),
    String(f.late),
    String(f.duplicated),
    fixed(f.replyRate, 1),
    ms(f.e2eMs),
    ms(f.ackMs),
    `${fixed(f.e2eMs.p50 / f.ackMs.p50, 1)}, ${fixed(f.e2eMs.p99 / f.ackMs.p99, 1)}`,
    `${fixed(c.igdm, 2)} / ${fixed(c.sandbox, 2)} / ${fixed(c.runner, 2)} / ${fixed(c.other, 2)}`,
    `${fixed(f.igdm.rssMB, 0)} / ${fixed(f.igdm.peakRssMB, 0)}`,
    `${f.usage.loadBefore.split(' ')[0]} → ${f.usage.loadAfter.split(' ')[0]}`,
  ];
}

interface Report {
  date: string;
  machine: ReturnType<typeof machine> & { loadAtStart: string; backgroundCoresAtStart: number };
  command: string;
  options: typeof options;
  fixed?: FixedResult;
  ramp?: RampResult;
}

function rows(report: Report): string[][] {
  const out: string[][] = [];
  if (report.fixed?.figures) out.push(row('fixed', report.fixed.figures));
  for (const step of report.ramp?.steps ?? []) out.push(row(`ramp${step.holds ? '' : ' ✗'}`, step.figures));
  return out;
}

function stageLines(s: Stages): string[] {
  const line = (name: string, d: Distribution) =>
    `  ${name.padEnd(42)} p50 ${fixed(d.p50, 0).padStart(4)}  p90 ${fixed(d.p90, 0).padStart(4)}  p99 ${fixed(d.p99, 0).padStart(5)}  max ${fixed(d.max, 0).padStart(5)} ms`;
  return [
    "Where the time goes (fixed run, whole ms, from igdm's store):",
    line('POST → received (HTTP thread)', s.postToReceived),
    line('received → applied (ingest worker)', s.receivedToApplied),
    line('applied → reply queued (queue + engine)', s.appliedToQueued),
    line('reply queued → at the Send API (sender)', s.queuedToSandbox),
    line('(reply queued → engine job finished)', s.jobEndAfterQueued),
  ];
}

function markdown(report: Report): string {
  const m = report.machine;
  const o = report.options;
  const lines = [
    `### e2e: inbound message → automated reply (${report.date})`,
    '',
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM, ${m.os}, Node ${m.node}; at start: ` +
      `load average ${m.loadAtStart}, ${m.backgroundCoresAtStart} cores busy with other work`,
    `- Command: \`${report.command}\`${o.igdmRoot === ROOT ? '' : ` (igdm from ${o.igdmRoot})`}`,
    `- igdm (\`bin/igdm.mjs start\`, fresh SQLite store, README rules, no AI) against a standalone sandbox ` +
      `(\`igdm sandbox\`); Send API limits lifted on both sides (${LIFTED}/s). ${o.conversations} customers ` +
      'write once first; then signed webhooks, one customer message each, round robin over them, open loop.',
    '',
    `| ${HEAD.join(' | ')} |`,
    `|${HEAD.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows(report).map((cells) => `| ${cells.join(' | ')} |`),
    '',
  ];
  const st = report.fixed?.stages;
  if (st) {
    const d = (x: Distribution) => `${fixed(x.p50, 0)} / ${fixed(x.p99, 0)}`;
    lines.push(
      `- Where the time goes in the fixed run (p50 / p99, ms, from igdm's store): POST → received ${d(st.postToReceived)}; ` +
        `→ applied ${d(st.receivedToApplied)}; → reply queued ${d(st.appliedToQueued)}; ` +
        `→ at the Send API ${d(st.queuedToSandbox)}`,
    );
  }
  if (report.ramp?.ok) {
    const first = report.ramp.steps.find((step) => !step.holds);
    lines.push(
      report.ramp.maxSustained !== undefined
        ? `- Max sustained (p99 ≤ ${o.p99LimitMs} ms, replies keeping up): ${report.ramp.maxSustained} conversations/s`
        : `- Max sustained: below the ramp's first rate, ${o.rampStart}/s`,
    );
    if (first) lines.push(`- The ramp stopped at ${first.figures.rate}/s: ${first.why.join('; ')}`);
  }
  if (report.fixed && !report.fixed.ok) lines.push(`- fixed: FAILED: ${report.fixed.error}`);
  if (report.ramp && !report.ramp.ok) lines.push(`- ramp: FAILED: ${report.ramp.error}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const started = Date.now();
  log(`mode ${options.mode}; load average ${loadAverage()}`);
  const background = await backgroundCores();
  if (background > 0.25)
    log(`warning: ${background} cores busy before starting; other work on this machine skews the figures`);
  const report: Report = {
    date: new Date().toISOString().slice(0, 10),
    machine: { ...machine(), loadAtStart: loadAverage(), backgroundCoresAtStart: background },
    command: commandLine(),
    options,
  };
  if (options.mode !== 'ramp') report.fixed = await fixedRun();
  if (options.mode !== 'fixed') report.ramp = await rampRun();

  const now = new Date();
  const resultsDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = now.toISOString().slice(0, 19).replace(/:/g, '').replace('T', '-');
  const file = path.join(resultsDir, `e2e-${stamp}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');

  const out = ['', textTable(HEAD, rows(report)), ''];
  const f = report.fixed;
  if (f?.stages) out.push(...stageLines(f.stages), '');
  if (f?.figures) {
    const v = f.verdict!;
    out.push(
      `target at ${options.rate}/s: p50 ${f.figures.e2eMs.p50} ms (≤ 15: ${v.p50 ? 'holds' : 'NO'}), ` +
        `p99 ${f.figures.e2eMs.p99} ms (≤ 60: ${v.p99 ? 'holds' : 'NO'}), ` +
        `lost ${f.figures.lost}, duplicated ${f.figures.duplicated}`,
    );
    if (f.figures.usage.cores.other > 0.25)
      out.push(`FLAG fixed: other processes used ${f.figures.usage.cores.other} cores during the run`);
  }
  if (f && !f.ok) out.push(`FAILED fixed: ${f.error}`);
  const r = report.ramp;
  if (r?.maxSustained !== undefined) out.push(`max sustained: ${r.maxSustained} conversations/s`);
  if (r && !r.ok) out.push(`FAILED ramp: ${r.error}`);
  out.push('', `results: ${path.relative(ROOT, file)} (${((Date.now() - started) / 1000).toFixed(0)} s)`, '');
  out.push('Markdown for BENCHMARKS.md:', '', markdown(report), '');
  process.stdout.write(out.join('\n'));
  return (f === undefined || f.ok) && (r === undefined || r.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`error: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
