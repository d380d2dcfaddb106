// The API benchmark's settings: the two channels the seed connects (their accounts and secrets), the
// key igdm is started with, and the options read from BENCH_API_* (README.md beside this file).
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envNumber } from '../support.ts';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
export const HOST = '127.0.0.1';
export const API_KEY = 'bench-api-key-0123456789abcdef';
/** Fixed, so that a copy of the cached store can read its channels' encrypted secrets. */
export const SECRET_KEY = 'be0c4a11'.repeat(8);

/** Bump when the seed's content or its making changes: the cache is keyed by it. */
export const SEED_VERSION = 1;

export interface ChannelSpec {
  id: string;
  accountId: string;
  appSecret: string;
  verifyToken: string;
  accessToken: string;
}

/** `default` from the environment, `shop2` through POST /v1/channels; 70 % and 30 % of the customers. */
export const CHANNELS: ChannelSpec[] = [
  {
    id: 'default',
    accountId: '17841400000000003',
    appSecret: 'bench-api-app-secret-default',
    verifyToken: 'bench-api-verify-default',
    accessToken: 'bench-api-access-token-default',
  },
  {
    id: 'shop2',
    accountId: '17841400000000044',
    appSecret: 'bench-api-app-secret-shop2',
    verifyToken: 'bench-api-verify-shop2',
    accessToken: 'bench-api-access-token-shop2',
  },
];

/** The environment that makes `default`, pointing its Graph API at `graphUrl`. */
export const defaultChannelEnv = (graphUrl: string) => ({
  META_APP_SECRET: CHANNELS[0]!.appSecret,
  WEBHOOK_VERIFY_TOKEN: CHANNELS[0]!.verifyToken,
  INSTAGRAM_ACCESS_TOKEN: CHANNELS[0]!.accessToken,
  INSTAGRAM_USER_ID: CHANNELS[0]!.accountId,
  INSTAGRAM_GRAPH_API_URL: graphUrl,
});

const int = (name: string, fallback: number) => Math.round(envNumber(name, fallback));

export const options = {
  conversations: int('BENCH_API_CONVERSATIONS', 10_000),
  messages: int('BENCH_API_MESSAGES', 200_000),
  /** Where seeded stores are kept between runs (one folder per seed version and size). */
  cacheDir: path.resolve(process.env.BENCH_API_CACHE || path.join(os.tmpdir(), 'igdm-bench-api')),
  /** Runs, each on a fresh copy of the seeded store and a fresh igdm; the medians are reported. */
  runs: int('BENCH_API_RUNS', 3),
  /** Sequential requests per operation (one client), after the warm-up. */
  samples: int('BENCH_API_SAMPLES', 200),
  warmup: int('BENCH_API_WARMUP', 30),
  /** Clients of the concurrent phase, and its length in seconds (0 leaves it out). */
  clients: int('BENCH_API_CLIENTS', 4),
  concurrentS: Number(process.env.BENCH_API_CONCURRENT_SECONDS ?? 10),
  /** The event stream: subscribers, webhook rate, and seconds (after a warm-up at the same rate). */
  subscribers: int('BENCH_API_SUBSCRIBERS', 100),
  rate: int('BENCH_API_RATE', 500),
  streamS: int('BENCH_API_STREAM_SECONDS', 20),
  streamWarmupS: int('BENCH_API_STREAM_WARMUP', 3),
  /** The customers who write during the stream phase (existing conversations). */
  active: int('BENCH_API_ACTIVE', 1000),
  /** The parts to run: `queries`, `stream` (comma-separated); both by default. */
  parts: (process.env.BENCH_API_PARTS || 'queries,stream').split(',').map((p) => p.trim()),
  /** CPU profiles of igdm (--cpu-prof) land here, when set. */
  profileDir: process.env.BENCH_API_PROFILE_DIR ? path.resolve(process.env.BENCH_API_PROFILE_DIR) : '',
  /** The checkout igdm runs from; the seed is made by this one. */
  igdmRoot: path.resolve(process.env.BENCH_API_IGDM_ROOT || ROOT),
  /**
   * A checkout of another commit run beside igdm in every run (the order alternating), on its own
   * copy of the same seed: the baseline of the ratios. None by default.
   */
  baselineRoot: process.env.BENCH_API_BASELINE_ROOT ? path.resolve(process.env.BENCH_API_BASELINE_ROOT) : '',
};

export const log = (message: string): void => {
  process.stderr.write(`[bench:api] ${message}\n`);
};

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
