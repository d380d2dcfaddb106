// End-to-end benchmark: a customer's message in, the automated reply out, with a standalone sandbox
// as the Graph API. Each inbound event is a signed webhook POSTed at a fixed open-loop rate; its
// latency runs from the POST to the moment the reply reaches the sandbox's Send API (the arrival time
// the sandbox records). By default igdm and the baseline (../shared/peer-seed003: Express + BullMQ on
// Redis) run side by side, pair after pair; BENCH_E2E_MODE=fixed|ramp|both runs igdm alone. See
// README.md beside this file.
//
//   npm run bench:e2e
//   BENCH_E2E_PAIRS=1 BENCH_E2E_RAMP_FACTOR=2 BENCH_E2E_RAMP_SECONDS=3 BENCH_E2E_RAMP_MAX=200 npm run bench:e2e
//   BENCH_E2E_MODE=fixed BENCH_E2E_RATE=300 npm run bench:e2e
import { machine } from '../support.ts';
import { checkBaseline } from './baseline.ts';
import { log, options } from './options.ts';
import { type PairedReport, pairedOutput, runPairs, summarize } from './paired.ts';
import { commandLine, type MachineInfo, type SingleReport, singleOutput, writeResults } from './report.ts';
import { fixedRun, rampRun } from './runs.ts';
import { backgroundCores, loadAverage } from './stats.ts';

async function main(): Promise<number> {
  const started = Date.now();
  const seconds = () => (Date.now() - started) / 1000;
  log(
    options.mode === 'paired'
      ? `mode paired: ${options.pairs} pair${options.pairs === 1 ? '' : 's'} of igdm and the baseline, phases ${options.phases}; load average ${loadAverage()}`
      : `mode ${options.mode} (igdm alone); load average ${loadAverage()}`,
  );
  if (options.mode === 'paired') await checkBaseline(); // before any run: installed, Redis answers
  const background = await backgroundCores();
  if (background > 0.25)
    log(`warning: ${background} cores busy before starting; other work on this machine skews the figures`);
  const machineInfo: MachineInfo = {
    ...machine(),
    loadAtStart: loadAverage(),
    backgroundCoresAtStart: background,
  };

  if (options.mode === 'paired') {
    const runs = await runPairs();
    const report: PairedReport = {
      date: new Date().toISOString().slice(0, 10),
      machine: machineInfo,
      command: commandLine(),
      options,
      runs,
      summary: summarize(runs),
    };
    const file = writeResults('e2e-paired', report);
    process.stdout.write(pairedOutput(report, file, seconds()));
    return report.summary.runs.every((s) => s.ok) ? 0 : 1;
  }

  const report: SingleReport = {
    date: new Date().toISOString().slice(0, 10),
    machine: machineInfo,
    command: commandLine(),
    options,
  };
  if (options.phases !== 'ramp') report.fixed = await fixedRun('igdm');
  if (options.phases !== 'fixed') report.ramp = await rampRun('igdm');
  const file = writeResults('e2e', report);
  process.stdout.write(singleOutput(report, file, seconds()));
  return (report.fixed === undefined || report.fixed.ok) && (report.ramp === undefined || report.ramp.ok)
    ? 0
    : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`error: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
