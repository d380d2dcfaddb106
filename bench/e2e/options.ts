// The e2e benchmark's settings: what every module shares (the credentials the sandbox, igdm and the
// baseline are started with) and the options read from BENCH_E2E_* (README.md beside this file).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envNumber } from '../support.ts';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
export const HOST = '127.0.0.1';
export const API_KEY = 'bench-key-0123456789abcdef';
export const APP_SECRET = 'bench-e2e-app-secret';
export const ACCESS_TOKEN = 'bench-e2e-access-token';
export const VERIFY_TOKEN = 'bench-e2e-verify-token';
export const ACCOUNT_ID = '17841400000000002';
/** Both Send API limits, igdm's and the sandbox's, are lifted to this (Meta's is 100/s per account). */
export const LIFTED = 100_000;

/** What every process under test and the sandbox share: the account and its secrets. */
export const CREDENTIALS = {
  META_APP_SECRET: APP_SECRET,
  WEBHOOK_VERIFY_TOKEN: VERIFY_TOKEN,
  INSTAGRAM_ACCESS_TOKEN: ACCESS_TOKEN,
  INSTAGRAM_USER_ID: ACCOUNT_ID,
};

/** `paired`: igdm and the baseline side by side; the others run igdm alone. */
export type Mode = 'paired' | 'both' | 'fixed' | 'ramp';
/** The phases of one run: the fixed rate, the ramp, or both (each on a fresh system). */
export type Phases = 'both' | 'fixed' | 'ramp';
export type SystemKind = 'igdm' | 'baseline';

function choice<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
  const value = process.env[name] || fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    console.error(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return value as T;
}

const mode = choice<Mode>('BENCH_E2E_MODE', ['paired', 'both', 'fixed', 'ramp'], 'paired');
const paired = mode === 'paired';

export const options = {
  mode,
  /** Paired mode: how many pairs (igdm and the baseline each once per pair, alternating first). */
  pairs: paired ? Math.round(envNumber('BENCH_E2E_PAIRS', 3)) : 1,
  /** The phases each system runs: in paired mode from BENCH_E2E_PAIRED_PHASES, else the mode. */
  phases: paired ? choice<Phases>('BENCH_E2E_PAIRED_PHASES', ['ramp', 'fixed', 'both'], 'ramp') : mode,
  /** Inbound events per second in the fixed run. */
  rate: envNumber('BENCH_E2E_RATE', 500),
  /** Measured seconds of the fixed run, after the warm-up at the same rate. */
  durationS: envNumber('BENCH_E2E_DURATION', 20),
  warmupS: envNumber('BENCH_E2E_WARMUP', 5),
  /** Customers the events are spread over (round robin). */
  conversations: Math.round(envNumber('BENCH_E2E_CONVERSATIONS', 1000)),
  /** The ramp's first rate, and the factor from one step to the next (finer when paired). */
  rampStart: envNumber('BENCH_E2E_RAMP_START', 25),
  rampFactor: envNumber('BENCH_E2E_RAMP_FACTOR', paired ? 1.2 : 1.5),
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
  /** The baseline's folder (Express + BullMQ, seed 003's design); outside this repository. */
  peerDir: path.resolve(process.env.BENCH_E2E_PEER_DIR || path.join(ROOT, '..', 'shared', 'peer-seed003')),
  /** BullMQ jobs the baseline's worker runs at once (its README: 64 measured best). */
  peerConcurrency: Math.round(envNumber('BENCH_E2E_PEER_CONCURRENCY', 64)),
  /** The Redis the baseline uses, host:port. */
  redis: process.env.BENCH_E2E_REDIS || '127.0.0.1:6379',
};

export const log = (message: string): void => {
  process.stderr.write(`[bench:e2e] ${message}\n`);
};

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
