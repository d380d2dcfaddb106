// Ingest benchmark: signed Instagram webhook POSTs per second and acknowledgement latency for a bare
// node:http ceiling, a seed-style Express handler and igdm itself, measured in one run with one
// load generator, round after round (the order reversed every other round), with the medians and
// igdm's ratios to the others. See README.md beside this file.
//
//   npm run bench:ingest
//   BENCH_ONLY=bare,igdm BENCH_PAIRS=5 npm run bench:ingest
//   BENCH_ONLY=bare,express BENCH_DURATION=5 npm run bench:ingest
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { machine } from '../support.ts';
import { backgroundCores } from './load.ts';
import { log, options, ROOT, SECRET, sleep } from './options.ts';
import { WebhookFeed } from './payloads.ts';
import { commandLine, output, type Report, type Round, summarize } from './report.ts';
import { BACKGROUND_LIMIT_CORES, benchServer } from './server.ts';

async function main(): Promise<number> {
  const started = Date.now();
  log(
    `servers: ${options.servers.join(', ')}; ${options.pairs} round${options.pairs === 1 ? '' : 's'}; ` +
      `${options.durationS} s per phase, ${options.connections} connections`,
  );
  const feed = new WebhookFeed(SECRET);
  log(`generating ${options.bodies} signed webhook bodies`);
  feed.ensure(options.bodies);
  const background = await backgroundCores();
  if (background > BACKGROUND_LIMIT_CORES) {
    log(`warning: ${background} cores busy before starting; other work on this machine skews the figures`);
  }

  const rounds: Round[] = [];
  for (let round = 1; round <= options.pairs; round++) {
    // Round 1 in the order given, round 2 reversed, ...: no server always runs first or last.
    const order = round % 2 === 1 ? [...options.servers] : [...options.servers].reverse();
    log(`round ${round}/${options.pairs}: ${order.join(', ')}`);
    const servers = [];
    for (const name of order) {
      servers.push(await benchServer(name, feed));
      await sleep(500);
    }
    rounds.push({ round, order, servers });
  }

  const now = new Date();
  const report: Report = {
    date: now.toISOString().slice(0, 10),
    machine: { ...machine(), backgroundCoresAtStart: background },
    command: commandLine(),
    options,
    rounds,
    summary: summarize(rounds),
  };

  const resultsDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = now.toISOString().slice(0, 19).replace(/:/g, '').replace('T', '-');
  const file = path.join(resultsDir, `ingest-${stamp}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(output(report, file, (Date.now() - started) / 1000));
  return rounds.every((round) => round.servers.every((result) => result.ok)) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`error: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
