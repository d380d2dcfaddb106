// Scale benchmark (issue 18): the embedded single process on SQLite, and PostgreSQL with one web
// process and one or two workers, each on a fresh store, in one run: inbound-to-reply latency at a
// fixed rate and the highest rate held within a p99 limit, ingest at saturation, CPU-seconds per
// 1000 events of igdm and of PostgreSQL's backends, and what limits each. See README.md beside this file.
//
//   npm run bench:scale
//   BENCH_SCALE_ONLY=pg-1-worker BENCH_SCALE_RATE=50 npm run bench:scale
import { writeResults } from '../e2e/report.ts';
import { backgroundCores, loadAverage } from '../e2e/stats.ts';
import { machine } from '../support.ts';
import { log, options } from './options.ts';
import { commandLine, output, type ScaleReport, targets } from './report.ts';
import { newFeed, runConfiguration } from './runs.ts';
import { BenchDatabase, describe } from './system.ts';

async function main(): Promise<number> {
  const started = Date.now();
  log(
    `${options.configurations.map((c) => c.name).join(', ')}; fixed ${options.rate}/s; load average ${loadAverage()}`,
  );
  const background = await backgroundCores();
  if (background > 0.25)
    log(`warning: ${background} cores busy before starting; other work on this machine skews the figures`);
  if (options.configurations.some((c) => c.store === 'postgres')) {
    try {
      await BenchDatabase.check();
    } catch (error) {
      log((error as Error).message);
      return 2;
    }
  }
  const feed = newFeed();
  feed.ensure(100_000); // signed ingest bodies, made before any measurement
  const report: ScaleReport = {
    date: new Date().toISOString().slice(0, 10),
    machine: { ...machine(), loadAtStart: loadAverage(), backgroundCoresAtStart: background },
    command: commandLine(),
    options: { ...options, postgresUrl: describe(options.postgresUrl) }, // never a password in the file
    results: [],
    targets: [],
  };
  for (let round = 1; round <= options.rounds; round++)
    // Every other round in the reverse order, so that a machine drifting over the run does not
    // favour the configurations that always come first.
    for (const configuration of round % 2 ? options.configurations : options.configurations.toReversed()) {
      if (options.rounds > 1) log(`round ${round} of ${options.rounds}: ${configuration.name}`);
      report.results.push(await runConfiguration(configuration, feed, round));
    }
  report.targets = targets(report.results);
  report.machine.loadAtEnd = loadAverage();
  report.seconds = (Date.now() - started) / 1000;
  const file = writeResults('scale', report);
  process.stdout.write(output(report, file));
  return report.results.every((r) => r.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`error: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
