// Send benchmark: how fast igdm's sender delivers queued text messages to the Send API, and whether
// its rate limit holds at Meta's end. igdm runs in sandbox mode (no credentials: the emulated Graph
// API on the same port records every Send API call with its arrival time). See README.md beside this file.
//
//   npm run bench:send
//   BENCH_SEND_CUSTOMERS=20 npm run bench:send
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Child,
  envNumber,
  fixed,
  freePort,
  machine,
  startChild,
  stopChild,
  textTable,
} from '../support.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const HOST = '127.0.0.1';
const API_KEY = 'bench-key-0123456789abcdef'; // igdm wants at least 16 characters
/** The sandbox's own Send API limit in the lifted and backlog runs (SANDBOX_SEND_PER_SECOND): out of the way. */
const SANDBOX_SEND_LIMIT = 100_000;

const options = {
  customers: Math.round(envNumber('BENCH_SEND_CUSTOMERS', 50)),
  connections: Math.round(envNumber('BENCH_SEND_CONNECTIONS', 8)),
  /** Messages queued in the unlimited run. */
  lifted: Math.round(envNumber('BENCH_SEND_LIFTED', 2000)),
  /** How long a run may take before it is cut (seconds). */
  timeoutS: envNumber('BENCH_SEND_TIMEOUT', 45),
  /** The runs to make, by name (comma-separated); all by default. */
  runs: (process.env.BENCH_SEND_RUNS ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== ''),
};

interface Scenario {
  name: string;
  /** IGDM_RATE_SEND_PER_SECOND. */
  rate: number;
  messages: number;
  /** A limit igdm must keep (the limited runs); the lifted run only measures. */
  enforced: boolean;
  /**
   * The whole burst is queued while the channel is held (a throttle answer from the sandbox: one
   * minute), and then sent: the sender's own speed with a backlog, without the API's queueing
   * running beside it.
   */
  backlog?: boolean;
}

/** How long the sandbox's throttle answer holds the channel in the backlog run. */
const BACKLOG_HOLD_MS = 60_000;

const SCENARIOS: Scenario[] = [
  // Both igdm's limit and the sandbox's lifted: queueing and sending at once.
  { name: 'lifted', rate: SANDBOX_SEND_LIMIT, messages: options.lifted, enforced: false },
  // The same burst queued first, then sent: the sender's own speed.
  { name: 'backlog', rate: SANDBOX_SEND_LIMIT, messages: options.lifted, enforced: false, backlog: true },
  { name: 'limit 50/s', rate: 50, messages: 500, enforced: true },
  { name: 'limit 20/s', rate: 20, messages: 200, enforced: true },
];

const log = (message: string): void => {
  process.stderr.write(`[bench:send] ${message}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- the igdm child

function startIgdm(env: Record<string, string>): Child {
  // No Instagram credentials: sandbox mode.
  return startChild('igdm', ['--max-semi-space-size=4', 'bin/igdm.mjs', 'start'], env);
}

// ---------------------------------------------------------------- HTTP

class Api {
  readonly base: string;
  constructor(port: number) {
    this.base = `http://${HOST}:${port}`;
  }

  async call(
    pathname: string,
    body?: unknown,
    method = body === undefined ? 'GET' : 'POST',
  ): Promise<{ status: number; body: unknown }> {
    const response = await fetch(this.base + pathname, {
      method,
      headers: {
        authorization: `Bearer ${API_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
  }
}

async function waitReady(child: Child, api: Api, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child.exited) throw new Error(`igdm ${child.exitDescription} before it was ready`);
    try {
      const { status } = await api.call('/readyz');
      if (status === 200) return;
      last = `GET /readyz answered ${status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`igdm not ready after ${timeoutMs / 1000} s (${last})`);
}

interface SandboxSend {
  seq: number;
  time: number;
  body: unknown;
  answer: { status: number | null };
}

/**
 * The sandbox journal keeps only its newest 1000 entries, so it is read while the run goes on and
 * merged by sequence number.
 */
class OutboxReader {
  readonly #api: Api;
  readonly entries = new Map<number, SandboxSend>();
  #last = 0;
  constructor(api: Api) {
    this.#api = api;
  }
  async read(): Promise<void> {
    const { status, body } = await this.#api.call(`/sandbox/outbox?after=${this.#last}`);
    if (status !== 200) throw new Error(`GET /sandbox/outbox answered ${status}`);
    for (const entry of (body as { data: SandboxSend[] }).data) {
      this.entries.set(entry.seq, entry);
      this.#last = Math.max(this.#last, entry.seq);
    }
  }
  async clear(): Promise<void> {
    await this.#api.call('/sandbox/outbox', undefined, 'DELETE');
    this.entries.clear();
  }
}

// ---------------------------------------------------------------- one run

const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** The most sends in any window (t − 1 s, t], as the sandbox (and Meta) count them. */
function maxInWindow(times: number[], windowMs = 1000): number {
  let max = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while (times[start]! <= times[end]! - windowMs) start++;
    max = Math.max(max, end - start + 1);
  }
  return max;
}

interface RunResult {
  scenario: Scenario;
  ok: boolean;
  error?: string;
  queued: number;
  queueErrors: number;
  /** Seconds to queue all messages through POST /v1/messages. */
  queueS: number;
  delivered: number;
  /** The sends the rates are measured on (a backlog's: those after the hold). */
  drained: number;
  /** Send API calls the sandbox refused with 429 / (#4) (igdm over the sandbox's limit). */
  rejected: number;
  otherAnswers: number;
  /** Last accepted send − first, in seconds. */
  spanS: number;
  /** delivered / span. */
  ratePerSpan: number;
  /**
   * The sustained rate: sends from the first of the first window to the first of the last window,
   * (N − L) / (t[N − L] − t[0]) for a limit of L/s. (N / (span + 1 s) would assume each window's sends
   * arrive at once; sent one after another, the last window's spread lowers it by ~4 % at 50/s.)
   */
  ratePerWindows: number;
  maxIn1s: number;
  latencyMs: { p50: number; p99: number; max: number };
  /** Achieved / configured: ratePerWindows for a limit igdm keeps, maxIn1s / rate for the 1 s window. */
  ratio?: number;
  windowRatio?: number;
  holds?: boolean;
}

async function runScenario(scenario: Scenario): Promise<RunResult> {
  const port = await freePort();
  const tempDir = mkdtempSync(path.join(os.tmpdir(), 'igdm-bench-send-'));
  const child = startIgdm({
    PORT: String(port),
    HOST,
    DATABASE_URL: `sqlite:${path.join(tempDir, 'igdm.sqlite')}`,
    IGDM_API_KEY: API_KEY,
    LOG_LEVEL: 'warn',
    IGDM_RATE_SEND_PER_SECOND: String(scenario.rate),
    SANDBOX_SEND_PER_SECOND: String(SANDBOX_SEND_LIMIT),
  });
  const api = new Api(port);
  const result: RunResult = {
    scenario,
    ok: false,
    queued: 0,
    queueErrors: 0,
    queueS: 0,
    delivered: 0,
    drained: 0,
    rejected: 0,
    otherAnswers: 0,
    spanS: 0,
    ratePerSpan: 0,
    ratePerWindows: 0,
    maxIn1s: 0,
    latencyMs: { p50: Number.NaN, p99: Number.NaN, max: Number.NaN },
  };
  try {
    log(`${scenario.name}: igdm on ${HOST}:${port}, IGDM_RATE_SEND_PER_SECOND=${scenario.rate}`);
    await waitReady(child, api, 60_000);

    // The customers write first: a send needs an open 24-hour window.
    const igsids: string[] = [];
    for (let i = 0; i < options.customers; i++) {
      const r = await api.call('/sandbox/messages', { from: `Bench Customer ${i}`, text: 'hello' });
      const body = r.body as { igsid?: string; delivered?: { status: number } };
      if (r.status !== 200 || body.delivered?.status !== 200 || body.igsid === undefined) {
        throw new Error(`POST /sandbox/messages answered ${r.status}: ${JSON.stringify(r.body)}`);
      }
      igsids.push(body.igsid);
    }
    // Applied asynchronously by the ingest worker: wait until the last customer's window is open.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await api.call('/v1/conversations?limit=100');
      const n = ((r.body as { data?: unknown[] } | undefined)?.data ?? []).length;
      if (r.status === 200 && n >= Math.min(options.customers, 100)) break;
      if (Date.now() > deadline) throw new Error(`only ${n} of ${options.customers} conversations applied`);
      await sleep(50);
    }
    const outbox = new OutboxReader(api);
    await outbox.clear();
    if (scenario.backlog) {
      // The first send is answered "throttled, try again in a minute": the channel is held and
      // the burst waits in the outbox.
      const r = await api.call('/sandbox/failures', {
        kind: 'throttle',
        count: 1,
        path: 'messages',
        regainAccessMinutes: BACKLOG_HOLD_MS / 60_000,
      });
      if (r.status !== 201) throw new Error(`POST /sandbox/failures answered ${r.status}`);
    }

    // Queue the burst from a few keep-alive connections; the time each was queued (202) is kept.
    const queuedAt = new Map<number, number>();
    let next = 0;
    const queueStart = performance.now();
    const tag = `b${Date.now().toString(36)}`;
    const worker = async (): Promise<void> => {
      while (next < scenario.messages) {
        const i = next++;
        const r = await api.call('/v1/messages', {
          to: igsids[i % igsids.length],
          content: { type: 'text', text: `bench ${tag}-${i}. The order ships tomorrow.` },
        });
        if (r.status === 202) queuedAt.set(i, Date.now());
        else {
          result.queueErrors++;
          if (result.queueErrors <= 3)
            log(`POST /v1/messages answered ${r.status}: ${JSON.stringify(r.body)}`);
        }
      }
    };
    let reading = true;
    const reader = (async () => {
      while (reading) {
        await outbox.read();
        await sleep(500);
      }
    })();
    await Promise.all(Array.from({ length: options.connections }, worker));
    result.queueS = (performance.now() - queueStart) / 1000;
    result.queued = queuedAt.size;
    log(`${scenario.name}: ${result.queued} queued in ${result.queueS.toFixed(2)} s; waiting for the sends`);

    // Until every queued message reached the sandbox (or the run is cut).
    const pattern = new RegExp(`${tag}-(\\d+)\\.`);
    const sentAt = new Map<number, number>();
    const until = Date.now() + options.timeoutS * 1000 + (scenario.backlog ? BACKLOG_HOLD_MS : 0);
    for (;;) {
      await outbox.read();
      for (const entry of outbox.entries.values()) {
        if (entry.answer.status !== 200) continue;
        const match = pattern.exec(JSON.stringify(entry.body));
        if (match !== null && !sentAt.has(Number(match[1]))) sentAt.set(Number(match[1]), entry.time);
      }
      if (sentAt.size >= result.queued) break;
      if (child.exited) throw new Error(`igdm ${child.exitDescription} during the run`);
      if (Date.now() > until) {
        log(`${scenario.name}: cut after ${options.timeoutS} s with ${sentAt.size} of ${result.queued} sent`);
        break;
      }
      await sleep(250);
    }
    reading = false;
    await reader;

    const entries = [...outbox.entries.values()];
    result.rejected = entries.filter((e) => e.answer.status === 429 || e.answer.status === 400).length;
    result.otherAnswers = entries.filter((e) => e.answer.status !== 200).length - result.rejected;
    const allTimes = entries
      .filter((e) => e.answer.status === 200)
      .map((e) => e.time)
      .sort((a, b) => a - b);
    result.delivered = allTimes.length;
    // A backlog's sends are those after the hold: the few already in flight when the throttle
    // answer came went through at once, before it.
    const heldAt = entries.find((e) => e.answer.status !== 200)?.time;
    const times =
      scenario.backlog && heldAt !== undefined
        ? allTimes.filter((t) => t > heldAt + BACKLOG_HOLD_MS / 2)
        : allTimes;
    result.drained = times.length;
    result.spanS = times.length > 1 ? (times.at(-1)! - times[0]!) / 1000 : 0;
    result.ratePerSpan = result.spanS > 0 ? times.length / result.spanS : Number.NaN;
    const perWindow = Math.min(scenario.rate, SANDBOX_SEND_LIMIT);
    const lastWindowStart = times.length - perWindow;
    result.ratePerWindows =
      scenario.enforced && lastWindowStart > 0
        ? lastWindowStart / ((times[lastWindowStart]! - times[0]!) / 1000)
        : result.ratePerSpan;
    result.maxIn1s = maxInWindow(times);
    const latencies = [...sentAt]
      .map(([i, at]) => at - queuedAt.get(i)!)
      .filter((ms) => Number.isFinite(ms))
      .sort((a, b) => a - b);
    result.latencyMs = {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: latencies.at(-1) ?? Number.NaN,
    };
    const effective = Math.min(scenario.rate, SANDBOX_SEND_LIMIT);
    result.ratio = result.ratePerWindows / effective;
    result.windowRatio = result.maxIn1s / effective;
    if (scenario.enforced) {
      // Never over the limit in any 1 s window, and a sustained rate within 2 % of it.
      result.holds = result.maxIn1s <= scenario.rate && Math.abs(result.ratio - 1) <= 0.02;
    }
    result.ok = result.delivered === result.queued && result.queueErrors === 0;
    if (!result.ok) result.error = `${result.delivered} of ${scenario.messages} delivered`;
  } catch (error) {
    result.error = (error as Error).message;
    const output = child.output.trim().split('\n').slice(-20).join('\n');
    log(`${scenario.name}: FAILED: ${result.error}`);
    if (output !== '') log(`igdm output (last lines):\n${output}`);
  } finally {
    await stopChild(child);
    rmSync(tempDir, { recursive: true, force: true });
  }
  return result;
}

// ---------------------------------------------------------------- report

function commandLine(): string {
  const set = [
    'BENCH_SEND_CUSTOMERS',
    'BENCH_SEND_CONNECTIONS',
    'BENCH_SEND_LIFTED',
    'BENCH_SEND_TIMEOUT',
    'BENCH_SEND_RUNS',
  ]
    .filter((name) => (process.env[name] ?? '') !== '')
    .map((name) => `${name}=${process.env[name]}`);
  return [...set, 'npm run bench:send'].join(' ');
}

const HEAD = [
  'run',
  'igdm limit (/s)',
  'sent / queued',
  'queued (/s)',
  '429s',
  'span (s)',
  'sent/span (/s)',
  'sustained (/s)',
  'max in 1 s',
  'achieved / configured',
  'queue→sent p50 / p99 (ms)',
  'result',
];

function row(r: RunResult): string[] {
  const limit = r.scenario.enforced ? r.scenario.rate : Math.min(r.scenario.rate, SANDBOX_SEND_LIMIT);
  const verdict = !r.ok ? 'FAILED' : r.holds === undefined ? 'measured' : r.holds ? 'holds' : 'NO';
  return [
    r.scenario.name,
    r.scenario.enforced ? String(r.scenario.rate) : `${r.scenario.rate} (sandbox ${SANDBOX_SEND_LIMIT})`,
    r.scenario.backlog
      ? `${r.delivered} / ${r.queued} (${r.drained} after the hold)`
      : `${r.delivered} / ${r.queued}`,
    fixed(r.queueS > 0 ? r.queued / r.queueS : Number.NaN, 0),
    String(r.rejected),
    fixed(r.spanS, 2),
    fixed(r.ratePerSpan, 1),
    fixed(r.ratePerWindows, 1),
    String(r.maxIn1s),
    `${fixed(r.ratio, 3)} (max 1 s: ${r.maxIn1s}/${limit} = ${fixed(r.windowRatio, 3)})`,
    // A backlog's latency is the hold it was queued behind.
    r.scenario.backlog ? '—' : `${fixed(r.latencyMs.p50, 0)} / ${fixed(r.latencyMs.p99, 0)}`,
    verdict,
  ];
}

interface Report {
  date: string;
  machine: ReturnType<typeof machine>;
  command: string;
  options: typeof options;
  runs: RunResult[];
}

function markdown(report: Report): string {
  const m = report.machine;
  const o = report.options;
  const lines = [
    `### Send: queued text messages to the Send API (${report.date})`,
    '',
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM, ${m.os}, Node ${m.node}`,
    `- Command: \`${report.command}\``,
    `- igdm in sandbox mode (\`bin/igdm.mjs start\`, fresh SQLite store, one igdm per run); ${o.customers} ` +
      `simulated customers write first; the burst is queued by POST /v1/messages from ${o.connections} ` +
      'connections; send times are those the sandbox recorded on arrival (GET /sandbox/outbox). ' +
      `In the lifted and backlog runs both igdm's limit and the sandbox's (SANDBOX_SEND_PER_SECOND) are ${SANDBOX_SEND_LIMIT}/s. ` +
      'The backlog run queues its burst while the channel is held (a throttle answer: one minute) and measures ' +
      'the sends after it: the sender alone, without the API queueing beside it.',
    '- Sustained = (N − L) / (t[N − L] − t[0]) for a limit of L/s: from the first send of the first ' +
      'one-second window to the first of the last. "Max in 1 s" is the most sends the sandbox saw in any ' +
      'window (t − 1 s, t]. A limited run holds when no window exceeds the limit and the sustained rate ' +
      'is within 2 % of it.',
    '',
    `| ${HEAD.join(' | ')} |`,
    `|${HEAD.map((_, i) => (i === 0 || i === HEAD.length - 1 ? '---' : '---:')).join('|')}|`,
    ...report.runs.map((r) => `| ${row(r).join(' | ')} |`),
    '',
  ];
  for (const r of report.runs.filter((run) => !run.ok))
    lines.push(`- ${r.scenario.name}: failed: ${r.error}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const started = Date.now();
  const runs: RunResult[] = [];
  const chosen = SCENARIOS.filter((s) => options.runs.length === 0 || options.runs.includes(s.name));
  if (chosen.length === 0) throw new Error(`BENCH_SEND_RUNS: no run named ${options.runs.join(', ')}`);
  for (const scenario of chosen) runs.push(await runScenario(scenario));
  const now = new Date();
  const report: Report = {
    date: now.toISOString().slice(0, 10),
    machine: machine(),
    command: commandLine(),
    options,
    runs,
  };
  const resultsDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = now.toISOString().slice(0, 19).replace(/:/g, '').replace('T', '-');
  const file = path.join(resultsDir, `send-${stamp}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');

  const out = ['', textTable(HEAD, runs.map(row)), ''];
  for (const r of runs) {
    if (!r.ok) out.push(`FAILED ${r.scenario.name}: ${r.error}`);
    if (r.holds === false)
      out.push(
        `FLAG ${r.scenario.name}: max ${r.maxIn1s} in 1 s, configured ${r.scenario.rate}/s (must be 98–100 %)`,
      );
  }
  out.push('', `results: ${path.relative(ROOT, file)} (${((Date.now() - started) / 1000).toFixed(0)} s)`, '');
  out.push('Markdown for BENCHMARKS.md:', '', markdown(report), '');
  process.stdout.write(out.join('\n'));
  return runs.every((r) => r.ok && r.holds !== false) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`error: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
