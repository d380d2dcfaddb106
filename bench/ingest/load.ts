// Load phases against one server: autocannon or the raw generator (raw-load.ts), closed loop at
// the maximum rate or paced at a given rate, with the CPU the server, the generator and the machine
// used during the phase.
import { readdirSync, readFileSync } from 'node:fs';
import { createHistogram } from 'node:perf_hooks';
import autocannon, { type Instance as AutocannonInstance, type RequestParams } from 'autocannon';
import { machineSeconds } from '../support.ts';
import { HOST, options, sleep, WEBHOOK_PATH } from './options.ts';
import type { WebhookFeed } from './payloads.ts';
import { type RawLoadResult, runRawLoad } from './raw-load.ts';

export interface LoadResult {
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

export const HEADERS = { 'Content-Type': 'application/json', 'User-Agent': 'facebookexternalua' };

export function autocannonLoad(
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

export async function rawLoad(
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
export function cpuSeconds(pid: number | 'self'): number {
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
export async function backgroundCores(): Promise<number> {
  const before = machineSeconds().busy - cpuSeconds('self');
  await sleep(1000);
  return Number((machineSeconds().busy - cpuSeconds('self') - before).toFixed(2));
}

/** Runs one load phase and adds the CPU the server, the generator and the machine used during it. */
export async function phase(serverPid: number, load: () => Promise<LoadResult>): Promise<LoadResult> {
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
