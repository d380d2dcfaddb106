// Shared rate limits on PostgreSQL (src/graph/shared-rate-limit.ts): what one send's place costs and
// whether PostgreSQL keeps up with Meta's 100 sends/s per account taken from two processes. Two
// child processes, each a pool of its own on one database, take places for ONE account (the worst
// case: every call waits for the same advisory lock) and settle each at once, as a send answered
// in no time would; a refused call sleeps as long as it was told, as the sender does. `takes`
// counts every call to igdm_rate_take (refusals too), `send` the places granted. CPU: the two
// processes' own (process.cpuUsage), and their PostgreSQL backends' (/proc/PID/stat). docs/postgres.md, "Shared limits", has the figures.
//
//   npm run bench:shared-limits
//   BENCH_LIMITS_SECONDS=20 BENCH_LIMITS_CONCURRENCY=32 npm run bench:shared-limits
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SharedRateLimiter } from '../../src/graph/shared-rate-limit.ts';
import { openPostgresStore } from '../../src/store/index.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { envNumber, fixed, machine, textTable } from '../support.ts';

const ADMIN_URL = process.env.IGDM_TEST_POSTGRES_URL ?? 'postgres://root@127.0.0.1:5432/test';
const SECONDS = envNumber('BENCH_LIMITS_SECONDS', 10);
/** Calls each process makes at once (the sender's default is 32). */
const CONCURRENCY = Math.round(envNumber('BENCH_LIMITS_CONCURRENCY', 32));
const CLOCK_TICKS = 100;

interface WorkerReport {
  takes: number;
  granted: number[];
  latenciesMs: number[];
  cpuMs: number;
  backendCpuMs: number;
}

/** CPU seconds (user + system) a process has used, from /proc. */
function procCpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS) * 1000;
  } catch {
    return 0;
  }
}

async function worker(url: string, limit: number, name: string): Promise<WorkerReport> {
  const db = openPostgres(`${url}?application_name=${name}`);
  const limiter = new SharedRateLimiter(
    db,
    { sendPerSecond: limit, mediaPerSecond: 10 },
    { namespace: 'bench', inFlightMs: 15_000 },
  );
  const report: WorkerReport = { takes: 0, granted: [], latenciesMs: [], cpuMs: 0, backendCpuMs: 0 };
  const cpu0 = process.cpuUsage();
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < end) {
        const t0 = performance.now();
        const taken = await limiter.take('17841400000000001', 'text', null);
        report.latenciesMs.push(performance.now() - t0);
        report.takes++;
        if (taken.place) {
          taken.place.record();
          report.granted.push(Date.now());
        } else await new Promise((resolve) => setTimeout(resolve, taken.waitMs));
      }
    }),
  );
  await limiter.settled();
  const cpu = process.cpuUsage(cpu0);
  report.cpuMs = (cpu.user + cpu.system) / 1000;
  const { rows } = await new pg.Pool({ connectionString: url, max: 1 }).query<{ pid: number }>(
    'select pid from pg_stat_activity where application_name = $1',
    [name],
  );
  report.backendCpuMs = rows.reduce((sum, r) => sum + procCpuMs(r.pid), 0);
  await db.destroy();
  return report;
}

function busiestSecond(times: number[]) {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (j < sorted.length && sorted[j]! < sorted[i]! + 1000) j++;
    most = Math.max(most, j - i);
  }
  return most;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};

async function run(url: string, limit: number): Promise<string[]> {
  const reports = await Promise.all(
    [1, 2].map(
      (n) =>
        new Promise<WorkerReport>((resolve, reject) => {
          const child = fork(fileURLToPath(import.meta.url), [
            'worker',
            url,
            String(limit),
            `bench-${limit}-${n}`,
          ]);
          child.once('message', (m) => resolve(m as WorkerReport));
          child.once('error', reject);
        }),
    ),
  );
  const granted = reports.flatMap((r) => r.granted);
  const latencies = reports.flatMap((r) => r.latenciesMs);
  const takes = reports.reduce((s, r) => s + r.takes, 0);
  const cpu = reports.reduce((s, r) => s + r.cpuMs, 0);
  const backend = reports.reduce((s, r) => s + r.backendCpuMs, 0);
  return [
    limit >= 1_000_000 ? 'none' : `${limit}/s`,
    String(takes),
    fixed(takes / SECONDS, 0),
    fixed(granted.length / SECONDS, 1),
    String(busiestSecond(granted)),
    fixed(pct(latencies, 50), 2),
    fixed(pct(latencies, 99), 2),
    fixed(backend / takes, 3),
    fixed(cpu / granted.length, 2),
    fixed(backend / granted.length, 2),
    `${fixed(cpu / 10 / SECONDS, 0)} % / ${fixed(backend / 10 / SECONDS, 0)} %`,
  ];
}

if (process.argv[2] === 'worker') {
  const [, , , url, limit, name] = process.argv;
  const report = await worker(url!, Number(limit), name!);
  process.send!(report, () => process.exit(0));
} else {
  const name = `igdm_bench_limits_${process.pid}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  try {
    const store = await openPostgresStore(url.toString()); // migrates
    await store.close();
    const rows = [];
    for (const limit of [100, 1_000_000]) rows.push(await run(url.toString(), limit));
    console.log(machine());
    console.log(`2 processes × ${CONCURRENCY} calls at once, one account, ${SECONDS} s each\n`);
    console.log(
      textTable(
        [
          'limit',
          'takes',
          'takes/s',
          'granted/s',
          'most in 1 s',
          'take p50 ms',
          'take p99 ms',
          'PG CPU ms/take',
          'igdm CPU ms/send',
          'PG CPU ms/send',
          'CPU igdm / PG',
        ],
        rows,
      ),
    );
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}
