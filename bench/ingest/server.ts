// One server under test, started as a child process: ready, the signature probe, warm-up, peak, half
// of its own peak, memory; then stopped.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Child, freePort, startChild, stopChild } from '../support.ts';
import { autocannonLoad, HEADERS, type LoadResult, phase, rawLoad } from './load.ts';
import { HERE, HOST, log, options, ROOT, SECRET, type ServerName, sleep, WEBHOOK_PATH } from './options.ts';
import { ACCOUNT_ID, type WebhookFeed } from './payloads.ts';

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

export interface Memory {
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

export interface ProbeResult {
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

export interface ServerResult {
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
export const BACKGROUND_LIMIT_CORES = 0.25;

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

export async function benchServer(name: ServerName, feed: WebhookFeed): Promise<ServerResult> {
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
