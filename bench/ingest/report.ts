// Reporting: a row per server per round, the medians of each server over the rounds, igdm's ratios
// to the other servers (of the medians, and each round's), the targets, and a Markdown block.
import path from 'node:path';
import { fixed, type machine, median, textTable } from '../support.ts';
import { options, ROOT, type ServerName } from './options.ts';
import type { ServerResult } from './server.ts';

/**
 * igdm's durable ingest against the bare verify-and-parse server (≥ 0.5 ×, issue 13) and Express
 * (≥ 5 ×), its p99 acknowledgement at half its own peak, its peak RSS.
 */
export const TARGETS = { overBare: 0.5, overExpress: 5, halfP99Ms: 10, rssMB: 200 };

export interface Round {
  round: number;
  order: ServerName[];
  servers: ServerResult[];
}

export interface Target {
  name: string;
  /** The figure judged: the ratio of the medians, or the median of igdm's runs. */
  value: number | undefined;
  /** The same figure in each round, and the median of those. */
  perRound: (number | undefined)[];
  medianPerRound: number | undefined;
  limit: string;
  holds: boolean | undefined;
  /** The same target judged on the median of the rounds' figures. */
  holdsPerRound: boolean | undefined;
}

export interface ServerMedians {
  runs: number;
  peakReqPerSec: number | undefined;
  halfP99Ms: number | undefined;
  peakRssMB: number | undefined;
}

export interface Summary {
  medians: Partial<Record<ServerName, ServerMedians>>;
  targets: Target[];
}

const ok = (round: Round, name: ServerName) => round.servers.find((r) => r.name === name && r.ok);
const peakOf = (r?: ServerResult) => r?.peak?.reqPerSec;
const halfP99Of = (r?: ServerResult) => r?.half?.latencyMs.p99;
const rssOf = (r?: ServerResult) => r?.peakRssMB;
const divide = (a?: number, b?: number) =>
  a === undefined || b === undefined || b === 0 ? undefined : a / b;

export function summarize(rounds: Round[]): Summary {
  const medians: Partial<Record<ServerName, ServerMedians>> = {};
  for (const name of options.servers) {
    const runs = rounds.map((round) => ok(round, name)).filter((r) => r !== undefined);
    medians[name] = {
      runs: runs.length,
      peakReqPerSec: median(runs.map(peakOf)),
      halfP99Ms: median(runs.map(halfP99Of)),
      peakRssMB: median(runs.map(rssOf)),
    };
  }
  const target = (
    name: string,
    value: number | undefined,
    perRound: (number | undefined)[],
    limit: { atLeast?: number; atMost?: number },
  ): Target => {
    const holds = (v: number | undefined) =>
      v === undefined ? undefined : limit.atLeast !== undefined ? v >= limit.atLeast : v <= limit.atMost!;
    const medianPerRound = median(perRound);
    return {
      name,
      value,
      perRound,
      medianPerRound,
      limit: limit.atLeast !== undefined ? `≥ ${limit.atLeast}` : `≤ ${limit.atMost}`,
      holds: holds(value),
      holdsPerRound: holds(medianPerRound),
    };
  };
  const ratio = (other: ServerName) =>
    [
      divide(medians.igdm?.peakReqPerSec, medians[other]?.peakReqPerSec),
      rounds.map((round) => divide(peakOf(ok(round, 'igdm')), peakOf(ok(round, other)))),
    ] as const;
  const targets: Target[] = [];
  if (medians.igdm && medians.bare)
    targets.push(target('igdm peak / bare peak', ...ratio('bare'), { atLeast: TARGETS.overBare }));
  if (medians.igdm && medians.express)
    targets.push(target('igdm peak / express peak', ...ratio('express'), { atLeast: TARGETS.overExpress }));
  if (medians.igdm) {
    const igdm = rounds.map((round) => ok(round, 'igdm'));
    targets.push(
      target('igdm p99 at half its peak (ms)', medians.igdm.halfP99Ms, igdm.map(halfP99Of), {
        atMost: TARGETS.halfP99Ms,
      }),
      target('igdm peak RSS (MB)', medians.igdm.peakRssMB, igdm.map(rssOf), { atMost: TARGETS.rssMB }),
    );
  }
  return { medians, targets };
}

// ---------------------------------------------------------------- output

export function commandLine(): string {
  const set = [
    'BENCH_ONLY',
    'BENCH_PAIRS',
    'BENCH_DURATION',
    'BENCH_CONNECTIONS',
    'BENCH_WARMUP',
    'BENCH_LOADER',
    'BENCH_HALF_LOADER',
  ]
    .filter((name) => (process.env[name] ?? '') !== '')
    .map((name) => `${name}=${process.env[name]}`);
  return [...set, 'npm run bench:ingest'].join(' ');
}

const HEAD = [
  'round',
  'server',
  'peak req/s',
  'p50 / p99 at peak (ms)',
  'CPU at peak: server / loadgen (cores)',
  'half-peak req/s',
  'p50 / p99 at half (ms)',
  'peak RSS (MB)',
  'errors + non-2xx',
  'run',
];

function row(round: number, result: ServerResult): string[] {
  if (!result.ok) return [String(round), result.name, '–', '–', '–', '–', '–', '–', '–', 'FAILED'];
  const { peak, half } = result;
  return [
    String(round),
    result.name,
    fixed(peak?.reqPerSec, 0),
    `${fixed(peak?.latencyMs.p50, 2)} / ${fixed(peak?.latencyMs.p99, 2)}`,
    `${fixed(peak?.cpuCores?.server, 2)} / ${fixed(peak?.cpuCores?.loadgen, 2)}`,
    fixed(half?.targetRate, 0),
    `${fixed(half?.latencyMs.p50, 2)} / ${fixed(half?.latencyMs.p99, 2)}`,
    fixed(result.peakRssMB, 0),
    String((peak?.errors ?? 0) + (peak?.non2xx ?? 0) + (half?.errors ?? 0) + (half?.non2xx ?? 0)),
    result.flags.length > 0 ? 'FLAGGED' : 'ok',
  ];
}

const rows = (report: Report) =>
  report.rounds.flatMap((round) => round.servers.map((result) => row(round.round, result)));

const MEDIAN_HEAD = ['server', 'runs', 'peak req/s', 'p99 at half its peak (ms)', 'peak RSS (MB)'];

const medianRows = (summary: Summary): string[][] =>
  Object.entries(summary.medians).map(([name, m]) => [
    name,
    String(m.runs),
    fixed(m.peakReqPerSec, 0),
    fixed(m.halfP99Ms, 2),
    fixed(m.peakRssMB, 0),
  ]);

const TARGET_HEAD = [
  'target',
  'measured (of the medians)',
  'each round',
  'median of the rounds',
  'limit',
  'holds',
];

const targetRows = (summary: Summary): string[][] =>
  summary.targets.map((t) => [
    t.name,
    fixed(t.value, 2),
    t.perRound.map((v) => fixed(v, 2)).join(', '),
    fixed(t.medianPerRound, 2),
    t.limit,
    t.holds === undefined ? '–' : t.holds ? 'yes' : 'NO',
  ]);

function markdownTable(head: string[], cells: string[][], left: number[]): string[] {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (left.includes(i) ? '---' : '---:')).join('|')}|`,
    ...cells.map((r) => `| ${r.join(' | ')} |`),
  ];
}

export interface Report {
  date: string;
  machine: ReturnType<typeof machine> & { backgroundCoresAtStart: number };
  command: string;
  options: typeof options;
  rounds: Round[];
  summary: Summary;
}

function markdown(report: Report): string {
  const m = report.machine;
  const o = report.options;
  const lines = [
    `### Ingest: signed webhook POSTs (${report.date})`,
    '',
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM, ${m.os}, Node ${m.node} ` +
      `(${m.backgroundCoresAtStart} cores busy elsewhere at start)`,
    `- Command: \`${report.command}\``,
    `- ${o.pairs} round${o.pairs === 1 ? '' : 's'}, each server once per round, the order reversed every other round.`,
    `- Load: ${o.loader === 'raw' ? 'raw closed loop' : 'autocannon'} (in-process, sharing the machine with the ` +
      `server), ${o.connections} connections, pipelining 1, ${o.warmupS} s warm-up, ${o.durationS} s at max rate; ` +
      `then ${o.durationS} s at half of each server's peak ` +
      `(${o.halfLoader === 'paced' ? 'evenly paced open loop, 1 s warm-up' : 'autocannon overallRate'}). ` +
      'Every request a distinct ~1.1 KB signed Instagram message webhook (unique mid).',
    '',
    ...markdownTable(HEAD, rows(report), [0, 1, HEAD.length - 1]),
    '',
    ...markdownTable(MEDIAN_HEAD, medianRows(report.summary), [0]),
    '',
  ];
  if (report.summary.targets.length > 0)
    lines.push(...markdownTable(TARGET_HEAD, targetRows(report.summary), [0, 2, 4, 5]), '');
  for (const round of report.rounds) {
    for (const result of round.servers.filter((r) => r.flags.length > 0 || !r.ok)) {
      const notes = result.ok ? result.flags : [`failed: ${result.error}`];
      lines.push(`- round ${round.round} ${result.name}: ${notes.join('; ')}`);
    }
  }
  return lines.join('\n');
}

export function output(report: Report, file: string, seconds: number): string {
  const out: string[] = [
    '',
    textTable(HEAD, rows(report)),
    '',
    'Medians over the rounds:',
    '',
    textTable(MEDIAN_HEAD, medianRows(report.summary)),
    '',
  ];
  if (report.summary.targets.length > 0) out.push(textTable(TARGET_HEAD, targetRows(report.summary)), '');
  for (const t of report.summary.targets) {
    const split = t.holds !== undefined && t.holdsPerRound !== undefined && t.holds !== t.holdsPerRound;
    out.push(
      `${t.name}: ${fixed(t.value, 2)} (target ${t.limit}) ${t.holds === undefined ? 'not measured' : t.holds ? 'holds' : 'FAILS'}` +
        (split ? ` (the median of the rounds, ${fixed(t.medianPerRound, 2)}, says otherwise)` : ''),
    );
  }
  for (const round of report.rounds) {
    for (const result of round.servers) {
      if (!result.ok) out.push(`FAILED round ${round.round} ${result.name}: ${result.error}`);
      for (const flag of result.flags) out.push(`FLAG round ${round.round} ${result.name}: ${flag}`);
    }
  }
  out.push('', `results: ${path.relative(ROOT, file)} (${seconds.toFixed(0)} s)`, '');
  out.push('Markdown for BENCHMARKS.md:', '', markdown(report), '');
  return out.join('\n');
}
