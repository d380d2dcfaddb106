// Ingest benchmark: signed Instagram webhook POSTs per second and acknowledgement latency for a bare
// node:http ceiling, a seed-style Express handler and igdm itself, measured in one run with one
// load generator. See README.md beside this file.
//
//   npm run bench:ingest
//   BENCH_ONLY=bare,express BENCH_DURATION=5 npm run bench:ingest
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHistogram } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import autocannon, { type Instance as AutocannonInstance, type RequestParams } from 'autocannon';
import {
  type Child,
  envNumber,
  fixed,
  freePort,
  machine,
  machineSeconds,
  startChild,
  stopChild,
  textTable,
} from '../support.ts';
import { ACCOUNT_ID, WebhookFeed } from './payloads.ts';
import { type RawLoadResult, runRawLoad } from './raw-load.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const HOST = '127.0.0.1';
const WEBHOOK_PATH = '/webhooks/meta';
const SECRET = 'bench-secret-' + randomBytes(8).toString('hex');
const SERVER_NAMES = ['bare', 'express', 'igdm'] as const;
type ServerName = (typeof SERVER_NAMES)[number];

const TARGETS = { overBare: 0.85, overExpress: 5, halfP99Ms: 10, rssMB: 200 };

// ---------------------------------------------------------------- options

function selectedServers(): ServerName[] {
  const raw = process.env['BENCH_ONLY'];
  if (raw === undefined || raw.trim() === '') return [...SERVER_NAMES];
  const names = raw
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  for (const name of names) {
    if (!(SERVER_NAMES as readonly string[]).includes(name)) {
      console.error(
        `BENCH_ONLY: unknown server ${JSON.stringify(name)} (choose from ${SERVER_NAMES.join(', ')})`,
      );
      process.exit(2);
    }
  }
  return SERVER_NAMES.filter((name) => names.includes(name));
}

function choice<T extends string>(name: string, allowed: readonly T[]): T {
  const value = process.env[name] ?? allowed[0]!;
  if (!(allowed as readonly string[]).includes(value)) {
    console.error(`${name} must be one of ${allowed.join(', ')}`);
    process.exit(2);
  }
  return value as T;
}

const options = {
  durationS: envNumber('BENCH_DURATION', 10),
  connections: Math.round(envNumber('BENCH_CONNECTIONS', 50)),
  warmupS: envNumber('BENCH_WARMUP', 3),
  bodies: Math.round(envNumber('BENCH_BODIES', 200_000)),
  pipelining: 1,
  /** Generator for the warm-up and the peak: autocannon, or the leaner raw closed loop. */
  loader: choice('BENCH_LOADER', ['autocannon', 'raw'] as const),
  /** Generator for half load: an evenly paced open loop, or autocannon's bursty overallRate. */
  halfLoader: choice('BENCH_HALF_LOADER', ['paced', 'autocannon'] as const),
  servers: selectedServers(),
};

const log = (message: string): void => {
  process.stderr.write(`[bench:ingest] ${message}\n`);
};

// ---------------------------------------------------------------- child processes

async function waitReady(child: Child, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child.exited) throw new Error(`${child.name} ${child.exitDescription} before it was ready`);
    try {
      const response = await fetch(`http://${HOST}:${port}/readyz`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `GET /readyz answered ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${child.name} not ready after ${timeoutMs / 1000} s (${last})`);
}

interface Memory {
  /** Peak resident set (VmHWM), summed over the server's process group. */
  peakRssMB: number;
  /** The resident set now (at the end of the run), split as the kernel reports it. */
  rssMB: number;
  anonMB: number;
  fileMB: number;
  shmemMB: number;
  processes: number;
}

/** Memory of the server's process group (the server and anything it spawned), from /proc. */
function memory(pid: number): Memory {
  const kB = { VmHWM: 0, VmRSS: 0, RssAnon: 0, RssFile: 0, RssShmem: 0 };
  let processes = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(entry) !== pid && Number(fields[2]) !== pid) continue; // fields[2] is the pgrp
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      for (const key of Object.keys(kB) as (keyof typeof kB)[]) {
        const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
        if (match !== null) kB[key] += Number(match[1]);
      }
      processes++;
    } catch {
      // The process ended while we looked.
    }
  }
  const mb = (value: number): number => Number((value / 1024).toFixed(1));
  return {
    peakRssMB: mb(kB.VmHWM),
    rssMB: mb(kB.VmRSS),
    anonMB: mb(kB.RssAnon),
    fileMB: mb(kB.RssFile),
    shmemMB: mb(kB.RssShmem),
    processes,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- load

interface LoadResult {
  loader: string;
  durationS: number;
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** 2xx responses per second. */
  reqPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /**
   * CPU used during the phase, in cores: the server's process group, this process (the generator),
   * the whole machine (busy, from /proc/stat), and time stolen by the hypervisor. `machine` well
   * above `server + loadgen` means something else was running (or kernel work charged to no one).
   */
  cpuCores?: { server: number; loadgen: number; machine: number; steal: number };
  /** autocannon's own figures (whole milliseconds) for reference. */
  autocannon?: { p50: number; p99: number; averageReqPerSec: number };
  targetRate?: number;
  unsent?: number;
}

const HEADERS = { 'Content-Type': 'application/json', 'User-Agent': 'facebookexternalua' };

function autocannonLoad(
  port: number,
  feed: WebhookFeed,
  durationS: number,
  overallRate?: number,
): Promise<LoadResult> {
  const histogram = createHistogram();
  return new Promise((resolve, reject) => {
    const instance: AutocannonInstance = autocannon(
      {
        url: `http://${HOST}:${port}`,
        connections: options.connections,
        pipelining: options.pipelining,
        duration: durationS,
        timeout: 10,
        method: 'POST',
        headers: HEADERS,
        ...(overallRate === undefined ? {} : { overallRate }),
        requests: [
          {
            method: 'POST',
            path: WEBHOOK_PATH,
            // Called for every request: the next distinct body and its signature.
            setupRequest: (request: RequestParams) => {
              const { body, signature } = feed.take();
              request.body = body;
              request.headers!['X-Hub-Signature-256'] = signature; // a fresh object per request
              return request;
            },
          },
        ],
      },
      (error, result) => {
        if (error !== null) {
          reject(error);
          return;
        }
        const count = histogram.count;
        const ms = (value: number): number => (count > 0 ? value / 1000 : 0);
        resolve({
          loader: overallRate === undefined ? 'autocannon' : 'autocannon overallRate',
          durationS: result.duration,
          requests: result.requests.total,
          ok: result['2xx'],
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          reqPerSec: result['2xx'] / result.duration,
          latencyMs: {
            p50: ms(histogram.percentile(50)),
            p90: ms(histogram.percentile(90)),
            p99: ms(histogram.percentile(99)),
            max: ms(histogram.max),
            mean: ms(histogram.mean),
          },
          autocannon: {
            p50: result.latency.p50,
            p99: result.latency.p99,
            averageReqPerSec: result.requests.average,
          },
          ...(overallRate === undefined ? {} : { targetRate: overallRate }),
        });
      },
    );
    // Our own histogram in microseconds (autocannon's keeps whole milliseconds); 2xx only, like autocannon's.
    instance.on('response', (_client: unknown, status: number, _bytes: number, responseMs: number) => {
      if (status >= 200 && status < 300) histogram.record(Math.max(1, Math.round(responseMs * 1000)));
    });
  });
}

async function rawLoad(
  port: number,
  feed: WebhookFeed,
  durationS: number,
  rate?: number,
  warmupS?: number,
): Promise<LoadResult> {
  const result: RawLoadResult = await runRawLoad({
    host: HOST,
    port,
    path: WEBHOOK_PATH,
    durationS,
    connections: options.connections,
    next: () => feed.take(),
    ...(rate === undefined ? {} : { rate }),
    ...(warmupS === undefined ? {} : { warmupS }),
  });
  return {
    loader: rate === undefined ? 'raw closed loop' : 'raw paced open loop',
    durationS: result.durationS,
    requests: result.completed,
    ok: result.ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    reqPerSec: result.ok / result.durationS,
    latencyMs: result.latencyMs,
    ...(rate === undefined ? {} : { targetRate: rate, unsent: result.unsent }),
  };
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** utime + stime in seconds of the process group led by `pid` (a server), or of this process. */
function cpuSeconds(pid: number | 'self'): number {
  let ticks = 0;
  const entries = pid === 'self' ? ['self'] : readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (pid !== 'self' && Number(entry) !== pid && Number(fields[2]) !== pid) continue; // [2] is the pgrp
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Gone meanwhile, or not Linux.
    }
  }
  return ticks / CLOCK_TICKS;
}

/** CPU the rest of the machine uses over one second while the benchmark idles. */
async function backgroundCores(): Promise<number> {
  const before = machineSeconds().busy - cpuSeconds('self');
  await sleep(1000);
  return Number((machineSeconds().busy - cpuSeconds('self') - before).toFixed(2));
}

/** Runs one load phase and adds the CPU the server, the generator and the machine used during it. */
async function phase(serverPid: number, load: () => Promise<LoadResult>): Promise<LoadResult> {
  const server0 = cpuSeconds(serverPid);
  const self0 = cpuSeconds('self');
  const machine0 = machineSeconds();
  const started = performance.now();
  const result = await load();
  const seconds = (performance.now() - started) / 1000;
  const machine1 = machineSeconds();
  const cores = (value: number): number => Number((value / seconds).toFixed(2));
  result.cpuCores = {
    server: cores(cpuSeconds(serverPid) - server0),
    loadgen: cores(cpuSeconds('self') - self0),
    machine: cores(machine1.busy - machine0.busy),
    steal: cores(machine1.steal - machine0.steal),
  };
  return result;
}

// ---------------------------------------------------------------- one server

interface ProbeResult {
  signed: number;
  badSignature: number;
  noSignature: number;
  ok: boolean;
}

const rejected = (status: number): boolean => status >= 400 && status < 500;

/** One signed request must be accepted; a wrong and a missing signature must be rejected. */
async function probe(port: number, feed: WebhookFeed): Promise<ProbeResult> {
  const post = async (headers: Record<string, string>, body: Buffer): Promise<number> => {
    const response = await fetch(`http://${HOST}:${port}${WEBHOOK_PATH}`, {
      method: 'POST',
      headers: { ...HEADERS, ...headers },
      body: new Uint8Array(body),
      signal: AbortSignal.timeout(5000),
    });
    await response.arrayBuffer();
    return response.status;
  };
  const good = feed.take();
  const signed = await post({ 'X-Hub-Signature-256': good.signature }, good.body);
  const other = feed.take();
  const badSignature = await post({ 'X-Hub-Signature-256': 'sha256=' + '0'.repeat(64) }, other.body);
  const noSignature = await post({}, feed.take().body);
  return {
    signed,
    badSignature,
    noSignature,
    // bare and express answer 401; any 4xx counts as a rejection (igdm may choose 403).
    ok: signed >= 200 && signed < 300 && rejected(badSignature) && rejected(noSignature),
  };
}

interface ServerResult {
  name: ServerName;
  command: string;
  ok: boolean;
  error?: string;
  output?: string;
  probe?: ProbeResult;
  warmup?: LoadResult;
  peak?: LoadResult;
  half?: LoadResult;
  peakRssMB?: number;
  memory?: Memory;
  storeMB?: number;
  bodiesGeneratedDuringLoad?: number;
  flags: string[];
}

/** CPU used by other processes during a phase above which its figures are flagged as unreliable. */
const BACKGROUND_LIMIT_CORES = 0.25;

function flagsFor(label: string, load: LoadResult): string[] {
  const flags: string[] = [];
  if (load.errors > 0) flags.push(`${label}: ${load.errors} errors (${load.timeouts} timeouts)`);
  if (load.non2xx > 0) flags.push(`${label}: ${load.non2xx} non-2xx responses`);
  if (load.unsent !== undefined && load.unsent > 0)
    flags.push(`${label}: ${load.unsent} requests never sent`);
  if (load.targetRate !== undefined && load.reqPerSec < load.targetRate * 0.95) {
    flags.push(`${label}: achieved ${load.reqPerSec.toFixed(0)} of ${load.targetRate} req/s`);
  }
  const cpu = load.cpuCores;
  if (cpu !== undefined) {
    const background = cpu.machine - cpu.server - cpu.loadgen;
    if (background > BACKGROUND_LIMIT_CORES) {
      flags.push(`${label}: ${background.toFixed(2)} cores busy outside the benchmark (machine not quiet)`);
    }
    if (cpu.steal > BACKGROUND_LIMIT_CORES)
      flags.push(`${label}: ${cpu.steal} cores stolen by the hypervisor`);
  }
  return flags;
}

async function benchServer(name: ServerName, feed: WebhookFeed): Promise<ServerResult> {
  const port = await freePort();
  let tempDir: string | undefined;
  let args: string[];
  const env: Record<string, string> = {
    PORT: String(port),
    HOST,
    APP_SECRET: SECRET,
    META_APP_SECRET: SECRET,
  };
  if (name === 'igdm') {
    tempDir = mkdtempSync(path.join(os.tmpdir(), 'igdm-bench-'));
    args = ['--max-semi-space-size=4', 'bin/igdm.mjs', 'start']; // as npm start
    Object.assign(env, {
      DATABASE_URL: `sqlite:${path.join(tempDir, 'igdm.sqlite')}`,
      WEBHOOK_VERIFY_TOKEN: 'bench',
      INSTAGRAM_USER_ID: ACCOUNT_ID,
      INSTAGRAM_ACCESS_TOKEN: 'bench-token',
      INSTAGRAM_GRAPH_API_URL: 'http://127.0.0.1:9', // profile lookups stay on this machine (and fail at once)
      IGDM_API_KEY: 'bench-key-0123456789abcdef', // igdm wants at least 16 characters
      LOG_LEVEL: 'warn',
    });
  } else {
    args = [path.relative(ROOT, path.join(HERE, `${name}.ts`))];
  }
  const result: ServerResult = { name, command: `node ${args.join(' ')}`, ok: false, flags: [] };
  feed.rewind();
  const child = startChild(name, args, env);
  try {
    log(`${name}: starting on ${HOST}:${port} (${result.command})`);
    await waitReady(child, port, name === 'igdm' ? 60_000 : 20_000);
    result.probe = await probe(port, feed);
    if (!result.probe.ok) {
      const { signed, badSignature, noSignature } = result.probe;
      throw new Error(
        `${name} answered signed ${signed}, bad signature ${badSignature}, no signature ${noSignature}`,
      );
    }
    const onDemandBefore = feed.generatedOnDemand;

    const pid = child.process.pid!;
    const peakLoad = (durationS: number) => () =>
      options.loader === 'raw' ? rawLoad(port, feed, durationS) : autocannonLoad(port, feed, durationS);

    log(`${name}: warm-up ${options.warmupS} s`);
    result.warmup = await phase(pid, peakLoad(options.warmupS));
    // Bodies for the peak, made now so the generator only picks them up (the warm-up runs colder).
    feed.ensure(Math.ceil(Math.max(result.warmup.reqPerSec, 1000) * options.durationS * 2));
    await sleep(500);

    log(`${name}: peak ${options.durationS} s, ${options.connections} connections (${options.loader})`);
    result.peak = await phase(pid, peakLoad(options.durationS));
    const halfRate = Math.max(1, Math.round(result.peak.reqPerSec / 2));
    feed.ensure(Math.ceil(halfRate * (options.durationS + 1) * 1.1));
    const { server, loadgen } = result.peak.cpuCores!;
    log(
      `${name}: peak ${result.peak.reqPerSec.toFixed(0)} req/s (CPU cores: server ${server}, generator ${loadgen})`,
    );
    await sleep(500);

    log(`${name}: half load ${halfRate} req/s for ${options.durationS} s (${options.halfLoader})`);
    result.half = await phase(pid, () =>
      options.halfLoader === 'paced'
        ? rawLoad(port, feed, options.durationS, halfRate, 1)
        : autocannonLoad(port, feed, options.durationS, halfRate),
    );

    if (child.exited) throw new Error(`${name} ${child.exitDescription} during the run`);
    result.memory = memory(child.process.pid!);
    result.peakRssMB = result.memory.peakRssMB;
    result.bodiesGeneratedDuringLoad = feed.generatedOnDemand - onDemandBefore;
    result.flags.push(...flagsFor('warm-up', result.warmup), ...flagsFor('peak', result.peak));
    result.flags.push(...flagsFor('half', result.half));
    result.ok = true;
  } catch (error) {
    result.error = (error as Error).message;
    result.output = child.output.trim().split('\n').slice(-20).join('\n');
    log(`${name}: FAILED: ${result.error}`);
    if (result.output !== '') log(`${name} output (last lines):\n${result.output}`);
  } finally {
    await stopChild(child);
    if (tempDir !== undefined) {
      result.storeMB = directoryBytes(tempDir) / 1024 / 1024;
      rmSync(tempDir, { recursive: true, force: true });
    }
  }
  return result;
}

function directoryBytes(dir: string): number {
  let bytes = 0;
  for (const entry of readdirSync(dir)) {
    try {
      bytes += statSync(path.join(dir, entry)).size;
    } catch {
      // Removed meanwhile.
    }
  }
  return bytes;
}

// ---------------------------------------------------------------- report

function commandLine(): string {
  const set = [
    'BENCH_ONLY',
    'BENCH_DURATION',
    'BENCH_CONNECTIONS',
    'BENCH_WARMUP',
    'BENCH_LOADER',
    'BENCH_HALF_LOADER',
  ]
    .filter((name) => (process.env[name] ?? '') !== '')
    .map((name) => `${name}=${process.env[name]}`);
  return [...set, 'npm run bench:ingest'].join(' ');
}

interface Target {
  name: string;
  value: number | undefined;
  limit: string;
  holds: boolean | undefined;
}

function targets(results: ServerResult[]): { ratios: Record<string, number | undefined>; targets: Target[] } {
  const get = (name: ServerName) => results.find((result) => result.name === name && result.ok);
  const igdm = get('igdm');
  const bare = get('bare');
  const express = get('express');
  const overBare = igdm && bare ? igdm.peak!.reqPerSec / bare.peak!.reqPerSec : undefined;
  const overExpress = igdm && express ? igdm.peak!.reqPerSec / express.peak!.reqPerSec : undefined;
  const p99 = igdm?.half?.latencyMs.p99;
  const rss = igdm?.peakRssMB;
  const check = (value: number | undefined, ok: (value: number) => boolean) =>
    value === undefined ? undefined : ok(value);
  return {
    ratios: { igdmOverBare: overBare, igdmOverExpress: overExpress },
    targets: [
      {
        name: 'igdm peak / bare peak',
        value: overBare,
        limit: `≥ ${TARGETS.overBare}`,
        holds: check(overBare, (v) => v >= TARGETS.overBare),
      },
      {
        name: 'igdm peak / express peak',
        value: overExpress,
        limit: `≥ ${TARGETS.overExpress}`,
        holds: check(overExpress, (v) => v >= TARGETS.overExpress),
      },
      {
        name: 'igdm p99 at half peak (ms)',
        value: p99,
        limit: `≤ ${TARGETS.halfP99Ms}`,
        holds: check(p99, (v) => v <= TARGETS.halfP99Ms),
      },
      {
        name: 'igdm peak RSS (MB)',
        value: rss,
        limit: `≤ ${TARGETS.rssMB}`,
        holds: check(rss, (v) => v <= TARGETS.rssMB),
      },
    ],
  };
}

function row(result: ServerResult): string[] {
  if (!result.ok) return [result.name, '–', '–', '–', '–', '–', '–', '–', 'FAILED'];
  const { peak, half } = result;
  return [
    result.name,
    fixed(peak?.reqPerSec, 0),
    `${fixed(peak?.latencyMs.p50, 2)} / ${fixed(peak?.latencyMs.p99, 2)}`,
    `${fixed(peak?.cpuCores?.server, 2)} / ${fixed(peak?.cpuCores?.loadgen, 2)}`,
    fixed(half?.targetRate, 0),
    `${fixed(half?.latencyMs.p50, 2)} / ${fixed(half?.latencyMs.p99, 2)}`,
    fixed(result.peakRssMB, 0),
    String((peak?.errors ?? 0) + (peak?.non2xx ?? 0) + (half?.errors ?? 0) + (half?.non2xx ?? 0)),
    result.flags.length > 0 ? 'FLAGGED' : 'ok',
  ];
}

const HEAD = [
  'server',
  'peak req/s',
  'p50 / p99 at peak (ms)',
  'CPU at peak: server / loadgen (cores)',
  'half-peak req/s',
  'p50 / p99 at half (ms)',
  'peak RSS (MB)',
  'errors + non-2xx',
  'run',
];

function markdown(report: Report): string {
  const m = report.machine;
  const o = report.options;
  const lines = [
    `### Ingest: signed webhook POSTs (${report.date})`,
    '',
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM, ${m.os}, Node ${m.node} ` +
      `(${m.backgroundCoresAtStart} cores busy elsewhere at start)`,
    `- Command: \`${report.command}\``,
    `- Load: ${o.loader === 'raw' ? 'raw closed loop' : 'autocannon'} (in-process, sharing the machine with the ` +
      `server), ${o.connections} connections, pipelining 1, ${o.warmupS} s warm-up, ${o.durationS} s at max rate; ` +
      `then ${o.durationS} s at half of each server's peak ` +
      `(${o.halfLoader === 'paced' ? 'evenly paced open loop, 1 s warm-up' : 'autocannon overallRate'}). ` +
      'Every request a distinct ~1.1 KB signed Instagram message webhook (unique mid).',
    '',
    `| ${HEAD.join(' | ')} |`,
    `|${HEAD.map((_, i) => (i === 0 || i === HEAD.length - 1 ? '---' : '---:')).join('|')}|`,
    ...report.servers.map((result) => `| ${row(result).join(' | ')} |`),
    '',
  ];
  const measured = report.targets.filter((target) => target.value !== undefined);
  if (measured.length > 0) {
    lines.push('| target | measured | limit | holds |', '|---|---:|---|---|');
    for (const target of measured) {
      lines.push(
        `| ${target.name} | ${fixed(target.value, 2)} | ${target.limit} | ${target.holds ? 'yes' : 'NO'} |`,
      );
    }
    lines.push('');
  }
  const flagged = report.servers.filter((result) => result.flags.length > 0 || !result.ok);
  for (const result of flagged) {
    const notes = result.ok ? result.flags : [`failed: ${result.error}`];
    lines.push(`- ${result.name}: ${notes.join('; ')}`);
  }
  return lines.join('\n');
}

interface Report {
  date: string;
  machine: ReturnType<typeof machine> & { backgroundCoresAtStart: number };
  command: string;
  options: Omit<typeof options, 'servers'> & { servers: ServerName[] };
  servers: ServerResult[];
  ratios: Record<string, number | undefined>;
  targets: Target[];
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const started = Date.now();
  log(
    `servers: ${options.servers.join(', ')}; ${options.durationS} s per phase, ${options.connections} connections`,
  );
  const feed = new WebhookFeed(SECRET);
  log(`generating ${options.bodies} signed webhook bodies`);
  feed.ensure(options.bodies);
  const background = await backgroundCores();
  if (background > BACKGROUND_LIMIT_CORES) {
    log(`warning: ${background} cores busy before starting; other work on this machine skews the figures`);
  }

  const results: ServerResult[] = [];
  for (const name of options.servers) {
    results.push(await benchServer(name, feed));
    await sleep(500);
  }

  const now = new Date();
  const report: Report = {
    date: now.toISOString().slice(0, 10),
    machine: { ...machine(), backgroundCoresAtStart: background },
    command: commandLine(),
    options,
    servers: results,
    ...targets(results),
  };

  const resultsDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = now.toISOString().slice(0, 19).replace(/:/g, '').replace('T', '-');
  const file = path.join(resultsDir, `ingest-${stamp}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');

  const out: string[] = ['', textTable(HEAD, results.map(row)), ''];
  for (const target of report.targets.filter((t) => t.value !== undefined)) {
    out.push(
      `${target.name}: ${fixed(target.value, 2)} (target ${target.limit}) ${target.holds ? 'holds' : 'FAILS'}`,
    );
  }
  for (const result of results) {
    if (!result.ok) out.push(`FAILED ${result.name}: ${result.error}`);
    for (const flag of result.flags) out.push(`FLAG ${result.name}: ${flag}`);
  }
  out.push('', `results: ${path.relative(ROOT, file)} (${((Date.now() - started) / 1000).toFixed(0)} s)`, '');
  out.push('Markdown for BENCHMARKS.md:', '', markdown(report), '');
  process.stdout.write(out.join('\n'));
  return results.every((result) => result.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`error: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
