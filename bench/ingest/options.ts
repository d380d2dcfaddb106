// The ingest benchmark's settings: the servers, the shared secret, the BENCH_* options (README.md
// beside this file).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envNumber } from '../support.ts';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
export const HOST = '127.0.0.1';
export const WEBHOOK_PATH = '/webhooks/meta';
export const SECRET = 'bench-secret-' + randomBytes(8).toString('hex');
export const SERVER_NAMES = ['bare', 'express', 'igdm'] as const;
export type ServerName = (typeof SERVER_NAMES)[number];

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

export const options = {
  durationS: envNumber('BENCH_DURATION', 10),
  connections: Math.round(envNumber('BENCH_CONNECTIONS', 50)),
  warmupS: envNumber('BENCH_WARMUP', 3),
  bodies: Math.round(envNumber('BENCH_BODIES', 200_000)),
  pipelining: 1,
  /** Rounds: every server once per round, in the opposite order every other round. */
  pairs: Math.round(envNumber('BENCH_PAIRS', 3)),
  /** Generator for the warm-up and the peak: autocannon, or the leaner raw closed loop. */
  loader: choice('BENCH_LOADER', ['autocannon', 'raw'] as const),
  /** Generator for half load: an evenly paced open loop, or autocannon's bursty overallRate. */
  halfLoader: choice('BENCH_HALF_LOADER', ['paced', 'autocannon'] as const),
  servers: selectedServers(),
};

export const log = (message: string): void => {
  process.stderr.write(`[bench:ingest] ${message}\n`);
};

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
