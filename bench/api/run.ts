// API benchmark: with 10 000 conversations and 200 000 messages in the embedded store, the latency of
// the conversation list, a thread page and a search through igdm's HTTP API, and the event stream's
// lag with 100 subscribers while webhooks arrive at 500/s. See README.md beside this file.
//
//   npm run bench:api
//   BENCH_API_RUNS=1 BENCH_API_PARTS=stream npm run bench:api
//   BENCH_API_BASELINE_ROOT=/path/to/other/checkout npm run bench:api   # igdm and another commit, paired
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backgroundCores } from '../e2e/stats.ts';
import { machine } from '../support.ts';
import { Igdm } from './igdm.ts';
import { log, options, ROOT, sleep } from './options.ts';
import { measureQueries } from './queries.ts';
import { output, type Report, type Run, type SystemName, summary } from './report.ts';
import { copySeed, type Manifest, NO_GRAPH, seededStore } from './seed.ts';
import { measureStream } from './stream.ts';

const loadAverage = () =>
  os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

function commit(root: string): string {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', root, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    const head = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--', 'src') ? `${head} (src modified)` : head;
  } catch {
    return path.basename(root); // not a git checkout (an archive of a commit)
  }
}

function commandLine(): string {
  const env = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_API_'))
    .map(([k, v]) => `${k}=${v}`);
  return [...env, 'npm run bench:api'].join(' ');
}

/** One system on a fresh copy of the seed: the queries, then the stream. */
async function measure(
  run: number,
  system: SystemName,
  root: string,
  seed: string,
  manifest: Manifest,
): Promise<Run> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'igdm-bench-api-run-'));
  try {
    copySeed(seed, dir);
    const background = await backgroundCores();
    const load = loadAverage();
    log(`run ${run}/${options.runs}, ${system}: load average ${load}, ${background} cores busy elsewhere`);
    const t0 = performance.now();
    const igdm = await Igdm.start(dir, NO_GRAPH, root);
    const readySeconds = Number(((performance.now() - t0) / 1000).toFixed(1));
    try {
      await sleep(1000); // igdm's first second (its threads, the hub) is its own
      const queries = options.parts.includes('queries') ? await measureQueries(igdm.port, manifest) : null;
      const stream = options.parts.includes('stream') ? await measureStream(igdm, manifest) : null;
      const peakRssMB = igdm.peakRssMB();
      return {
        run,
        system,
        root,
        loadAverage: load,
        backgroundCores: background,
        readySeconds,
        queries,
        stream,
        peakRssMB,
      };
    } finally {
      await igdm.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const started = performance.now();
  const { dir: seed, manifest } = await seededStore();
  const systems: [SystemName, string][] = [['igdm', options.igdmRoot]];
  if (options.baselineRoot) systems.push(['baseline', options.baselineRoot]);
  const runs: Run[] = [];
  for (let run = 1; run <= options.runs; run++) {
    // With a baseline, the first system alternates: neither always runs on a warmer or busier machine.
    const order = run % 2 === 1 ? systems : [...systems].reverse();
    for (const [system, root] of order) runs.push(await measure(run, system, root, seed, manifest));
  }
  const now = new Date();
  const report: Report = {
    date: now.toISOString().slice(0, 10),
    machine: machine(),
    commits: Object.fromEntries(systems.map(([system, root]) => [system, commit(root)])),
    command: commandLine(),
    seed: {
      dir: seed,
      createdAt: manifest.createdAt,
      seedSeconds: manifest.seedSeconds,
      storeMB: manifest.storeMB,
      counts: manifest.counts,
    },
    options: { ...options },
    runs,
    seconds: Math.round((performance.now() - started) / 1000),
  };
  const resultsDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = now.toISOString().slice(0, 19).replace(/:/g, '').replace('T', '-');
  const file = path.join(resultsDir, `api-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify({ ...report, summary: summary(runs) }, null, 2)}\n`);
  process.stdout.write(output(report, file));
  log(`${report.seconds} s in all`);
  // Every event reached every subscriber once, and every webhook was taken.
  const clean = runs.every(
    (r) =>
      !r.stream ||
      (r.stream.refused === 0 &&
        r.stream.missingMessages +
          r.stream.missingEvents +
          r.stream.duplicateMessages +
          r.stream.outOfOrder ===
          0),
  );
  return clean ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`error: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
