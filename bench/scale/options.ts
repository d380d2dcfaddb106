// The scale benchmark's settings: the configurations and the BENCH_SCALE_* options (README.md beside
// this file). The processes' credentials, the load generator, reply matching and the drain are
// bench/e2e's (BENCH_E2E_DRAIN and BENCH_E2E_DRAIN_MAX apply here too).
import path from 'node:path';
import { ROOT } from '../e2e/options.ts';
import { envNumber } from '../support.ts';

/** One configuration: the embedded store in one process, or PostgreSQL with a web process and workers. */
export interface Configuration {
  name: string;
  store: 'sqlite' | 'postgres';
  /** Worker processes beside the web process (PostgreSQL); 0 for the embedded single process. */
  workers: number;
}

export const CONFIGURATIONS: readonly Configuration[] = [
  { name: 'embedded', store: 'sqlite', workers: 0 },
  { name: 'pg-1-worker', store: 'postgres', workers: 1 },
  { name: 'pg-2-workers', store: 'postgres', workers: 2 },
];

function selected(): Configuration[] {
  const raw = (process.env.BENCH_SCALE_ONLY ?? '').trim();
  if (raw === '') return [...CONFIGURATIONS];
  const names = raw.split(',').map((n) => n.trim());
  for (const name of names)
    if (!CONFIGURATIONS.some((c) => c.name === name)) {
      console.error(
        `BENCH_SCALE_ONLY: unknown configuration ${JSON.stringify(name)} (choose from ${CONFIGURATIONS.map((c) => c.name).join(', ')})`,
      );
      process.exit(2);
    }
  return CONFIGURATIONS.filter((c) => names.includes(c.name));
}

export const options = {
  configurations: selected(),
  /** The PostgreSQL server: a database is made on it per configuration and dropped after. */
  postgresUrl: process.env.BENCH_SCALE_POSTGRES_URL || 'postgres://root@127.0.0.1:5432/test',
  /** Customers the events are spread over (round robin); each writes once first. */
  conversations: Math.round(envNumber('BENCH_SCALE_CONVERSATIONS', 500)),
  /** Seconds of CPU measured with no events coming (what the processes cost idle). */
  idleS: envNumber('BENCH_SCALE_IDLE_SECONDS', 3),
  /** The fixed rate every configuration runs (inbound events per second). */
  rate: envNumber('BENCH_SCALE_RATE', 50),
  warmupS: envNumber('BENCH_SCALE_WARMUP', 3),
  durationS: envNumber('BENCH_SCALE_DURATION', 10),
  /** The search: its first rate (the fixed rate by default), the factor between steps, the limit. */
  searchStart: envNumber('BENCH_SCALE_SEARCH_START', envNumber('BENCH_SCALE_RATE', 50)),
  searchFactor: Math.max(1.1, envNumber('BENCH_SCALE_SEARCH_FACTOR', 1.5)),
  searchMax: envNumber('BENCH_SCALE_SEARCH_MAX', 3000),
  /** Measured seconds of each search step (after 2 s at its rate). */
  stepS: envNumber('BENCH_SCALE_STEP_SECONDS', 6),
  /** A rate is sustained while inbound-to-reply p99 stays within this. */
  p99LimitMs: envNumber('BENCH_SCALE_P99_MS', 100),
  /** Ingest at saturation (closed loop, bench/ingest's raw generator): seconds after a warm-up (0: none), connections. */
  ingestS: process.env.BENCH_SCALE_INGEST_SECONDS === '0' ? 0 : envNumber('BENCH_SCALE_INGEST_SECONDS', 8),
  ingestWarmupS: envNumber('BENCH_SCALE_INGEST_WARMUP', 2),
  ingestConnections: Math.round(envNumber('BENCH_SCALE_CONNECTIONS', 50)),
  /**
   * Rounds of the whole list of configurations, one after the other (every other round reversed): a
   * single round's highest rates move by a third between runs on a shared machine, so the targets
   * are also given as the median of the rounds' ratios.
   */
  rounds: Math.max(1, Math.round(envNumber('BENCH_SCALE_ROUNDS', 1))),
  /** The checkout igdm runs from (another commit or branch); the sandbox and the runner are this one. */
  igdmRoot: path.resolve(process.env.BENCH_SCALE_IGDM_ROOT || ROOT),
  /** Keep each configuration's database or data folder (the name is printed). */
  keep: (process.env.BENCH_SCALE_KEEP ?? '') !== '',
  /** Where igdm's processes write V8 CPU profiles (--cpu-prof), one per process; none when unset. */
  profileDir: process.env.BENCH_SCALE_PROFILE_DIR || '',
};

export const log = (message: string): void => {
  process.stderr.write(`[bench:scale] ${message}\n`);
};
