// Paired mode: igdm and the baseline side by side, in the same run, with the same generator, the
// same Graph stand-in and the same reply matching; pair after pair, alternating which goes first.
// Per run: the max sustained rate (the ramp), CPU-seconds per 1000 replies, the fixed rate's
// latency if it ran; then the medians of each system, their ratios and the targets.
import path from 'node:path';
import { fixed, median, textTable } from '../support.ts';
import { LIFTED, options, ROOT, type SystemKind } from './options.ts';
import { HEAD, type MachineInfo, machineLine, markdownTable, phaseRows, systemCores } from './report.ts';
import { type FixedResult, fixedRun, type RampResult, type RampStep, rampRun } from './runs.ts';

/** igdm / baseline: at least this sustained rate, at most this CPU per reply. */
export const TARGETS = { rate: 2, cpu: 0.5 };

export interface SystemRun {
  system: SystemKind;
  pair: number;
  /** 1: ran first in its pair, 2: second. */
  order: number;
  fixed?: FixedResult;
  ramp?: RampResult;
}

export async function runPairs(): Promise<SystemRun[]> {
  const runs: SystemRun[] = [];
  for (let pair = 1; pair <= options.pairs; pair++) {
    const order: SystemKind[] = pair % 2 === 1 ? ['igdm', 'baseline'] : ['baseline', 'igdm'];
    for (const [i, system] of order.entries()) {
      const label = `pair ${pair}/${options.pairs} ${system}`;
      const run: SystemRun = { system, pair, order: i + 1 };
      if (options.phases !== 'ramp') run.fixed = await fixedRun(system, `${label} fixed`);
      if (options.phases !== 'fixed') run.ramp = await rampRun(system, `${label} ramp`);
      runs.push(run);
    }
  }
  return runs;
}

export interface RunSummary {
  system: SystemKind;
  pair: number;
  order: number;
  ok: boolean;
  /** The highest ramp rate that held; 0 when even the first did not. */
  maxSustained?: number;
  reachedMax?: boolean;
  stoppedBecause?: string;
  /** The ramp's rates that held in both systems' runs of this pair (the same load for both). */
  sharedRates: number[];
  /** CPU-seconds per 1000 replies over those shared steps. */
  cpuPer1000Shared?: number;
  /** CPU-seconds per 1000 replies over all the steps this run held. */
  cpuPer1000Held?: number;
  /** The system's cores at its max sustained step (and each process's, for the baseline). */
  coresAtMax?: string;
  fixedP50?: number;
  fixedP99?: number;
  fixedCpuPer1000?: number;
  peakRssMB?: number;
}

/** CPU-seconds per 1000 replies over some steps: their CPU together over their replies together. */
function cpuPer1000(steps: RampStep[]): number | undefined {
  const cpu = steps.reduce((s, step) => s + step.figures.usage.systemCpuS, 0);
  const replies = steps.reduce((s, step) => s + step.figures.windowReplies, 0);
  return replies > 0 ? Number(((cpu / replies) * 1000).toFixed(3)) : undefined;
}

function summarizeRun(run: SystemRun, other: SystemRun | undefined): RunSummary {
  const held = (r?: RampResult) => (r?.ok ? r.steps.filter((s) => s.holds) : []);
  const mine = held(run.ramp);
  const theirs = new Set(held(other?.ramp).map((s) => s.figures.rate));
  const shared = mine.filter((s) => theirs.has(s.figures.rate));
  const top = mine.at(-1);
  const r = run.ramp;
  const f = run.fixed;
  const rss = [...(r?.steps ?? []).map((s) => s.figures.rss.peakRssMB), f?.figures?.rss.peakRssMB].filter(
    (v): v is number => v !== undefined && Number.isFinite(v),
  );
  return {
    system: run.system,
    pair: run.pair,
    order: run.order,
    ok: (r === undefined || r.ok) && (f === undefined || f.ok),
    ...(r?.ok && { maxSustained: r.maxSustained ?? 0, reachedMax: r.reachedMax ?? false }),
    ...(r?.ok && { stoppedBecause: r.steps.find((s) => !s.holds)?.why.join('; ') ?? 'held to the max' }),
    sharedRates: shared.map((s) => s.figures.rate),
    cpuPer1000Shared: cpuPer1000(shared),
    cpuPer1000Held: cpuPer1000(mine),
    ...(top && { coresAtMax: systemCores(top.figures) }),
    ...(f?.figures && {
      fixedP50: f.figures.e2eMs.p50,
      fixedP99: f.figures.e2eMs.p99,
      fixedCpuPer1000: f.figures.cpuPer1000,
    }),
    ...(rss.length > 0 && { peakRssMB: Math.max(...rss) }),
  };
}

export interface Comparison {
  name: string;
  /** Decimals to print the medians with. */
  digits: number;
  igdm?: number;
  baseline?: number;
  /** median(igdm) / median(baseline). */
  ratio?: number;
  /** igdm / baseline in each pair, and their median. */
  pairRatios: (number | undefined)[];
  medianPairRatio?: number;
  /** The target on igdm / baseline: met by the ratio of the medians, and by the median of the pairs' ratios. */
  target?: { limit: string; holds: boolean | undefined; holdsPerPair: boolean | undefined };
}

export interface PairedSummary {
  runs: RunSummary[];
  comparisons: Comparison[];
}

type Numeric =
  | 'maxSustained'
  | 'cpuPer1000Shared'
  | 'cpuPer1000Held'
  | 'fixedP50'
  | 'fixedP99'
  | 'fixedCpuPer1000';

export function summarize(runs: SystemRun[]): PairedSummary {
  const summaries = runs.map((run) =>
    summarizeRun(
      run,
      runs.find((o) => o.pair === run.pair && o.system !== run.system),
    ),
  );
  const divide = (a?: number, b?: number) =>
    a === undefined || b === undefined || b === 0 ? undefined : Number((a / b).toFixed(3));
  const compare = (
    name: string,
    key: Numeric,
    digits: number,
    target?: { atLeast?: number; atMost?: number },
  ) => {
    const of = (system: SystemKind) => summaries.filter((s) => s.system === system).map((s) => s[key]);
    const igdm = median(of('igdm'));
    const baseline = median(of('baseline'));
    const ratio = divide(igdm, baseline);
    const pairRatios = Array.from({ length: options.pairs }, (_, i) => {
      const get = (system: SystemKind) =>
        summaries.find((s) => s.pair === i + 1 && s.system === system)?.[key];
      return divide(get('igdm'), get('baseline'));
    });
    const medianPairRatio = median(pairRatios);
    const c: Comparison = { name, digits, igdm, baseline, ratio, pairRatios, medianPairRatio };
    if (target !== undefined) {
      const holds = (v?: number) =>
        v === undefined
          ? undefined
          : target.atLeast !== undefined
            ? v >= target.atLeast
            : v <= target.atMost!;
      c.target = {
        limit: target.atLeast !== undefined ? `≥ ${target.atLeast}×` : `≤ ${target.atMost}×`,
        holds: holds(ratio),
        holdsPerPair: holds(medianPairRatio),
      };
    }
    return c;
  };
  const comparisons: Comparison[] = [];
  if (options.phases !== 'fixed') {
    comparisons.push(
      compare(`max sustained (/s, p99 ≤ ${options.p99LimitMs} ms)`, 'maxSustained', 0, {
        atLeast: TARGETS.rate,
      }),
      compare('CPU-s / 1000 replies, ramp steps both held', 'cpuPer1000Shared', 2, { atMost: TARGETS.cpu }),
      compare('CPU-s / 1000 replies, all its held steps', 'cpuPer1000Held', 2),
    );
  }
  if (options.phases !== 'ramp') {
    comparisons.push(
      compare(`e2e p50 at ${options.rate}/s (ms)`, 'fixedP50', 1),
      compare(`e2e p99 at ${options.rate}/s (ms)`, 'fixedP99', 1),
      compare(`CPU-s / 1000 replies at ${options.rate}/s`, 'fixedCpuPer1000', 2, { atMost: TARGETS.cpu }),
    );
  }
  return { runs: summaries, comparisons };
}

// ---------------------------------------------------------------- output

interface Column {
  head: string;
  cell: (s: RunSummary) => string;
  /** Left-aligned in Markdown (text, not figures). */
  left?: boolean;
  /** Only when the runs have this phase. */
  phase?: 'fixed' | 'ramp';
}

const maxSustained = (s: RunSummary): string =>
  s.maxSustained === undefined
    ? 'FAILED'
    : s.maxSustained === 0
      ? `< ${options.rampStart}`
      : `${s.reachedMax ? '≥ ' : ''}${s.maxSustained}`;

const COLUMNS: Column[] = [
  { head: 'pair', cell: (s) => String(s.pair), left: true },
  { head: 'system', cell: (s) => s.system, left: true },
  { head: 'order', cell: (s) => (s.order === 1 ? 'first' : 'second'), left: true },
  { head: 'max sustained (/s)', cell: maxSustained, phase: 'ramp' },
  {
    head: 'CPU-s / 1000 replies: shared steps, all held',
    cell: (s) => `${fixed(s.cpuPer1000Shared, 2)}, ${fixed(s.cpuPer1000Held, 2)}`,
    phase: 'ramp',
  },
  { head: 'cores at max sustained', cell: (s) => s.coresAtMax ?? '–', phase: 'ramp' },
  {
    head: `fixed ${options.rate}/s: p50 / p99 (ms)`,
    cell: (s) => `${fixed(s.fixedP50, 1)} / ${fixed(s.fixedP99, 1)}`,
    phase: 'fixed',
  },
  { head: `fixed ${options.rate}/s: CPU-s / 1000`, cell: (s) => fixed(s.fixedCpuPer1000, 2), phase: 'fixed' },
  { head: 'peak RSS (MB)', cell: (s) => fixed(s.peakRssMB, 0) },
  {
    head: 'ramp stopped because',
    cell: (s) => (s.ok ? (s.stoppedBecause ?? '–') : 'FAILED'),
    left: true,
    phase: 'ramp',
  },
];

/** The columns of the phases that ran. */
const runColumns = (): Column[] =>
  COLUMNS.filter((c) => c.phase === undefined || options.phases === 'both' || options.phases === c.phase);

function runTable(summaries: RunSummary[]): { head: string[]; rows: string[][]; left: number[] } {
  const columns = runColumns();
  return {
    head: columns.map((c) => c.head),
    rows: summaries.map((s) => columns.map((c) => c.cell(s))),
    left: columns.flatMap((c, i) => (c.left ? [i] : [])),
  };
}

const COMPARISON_HEAD = [
  'median of runs',
  'igdm',
  'baseline',
  'igdm / baseline',
  'per pair',
  'target',
  'met',
];

function comparisonRow(c: Comparison): string[] {
  const met =
    c.target === undefined ? '' : c.target.holds === undefined ? '–' : c.target.holds ? 'yes' : 'NO';
  return [
    c.name,
    fixed(c.igdm, c.digits),
    fixed(c.baseline, c.digits),
    fixed(c.ratio, 2),
    c.pairRatios.map((r) => fixed(r, 2)).join(', '),
    c.target?.limit ?? '',
    met,
  ];
}

export interface PairedReport {
  date: string;
  machine: MachineInfo;
  command: string;
  options: typeof options;
  runs: SystemRun[];
  summary: PairedSummary;
}

function notes(report: PairedReport): string[] {
  const lines: string[] = [];
  const capped = report.summary.runs.filter((s) => s.reachedMax);
  if (capped.length > 0)
    lines.push(
      `- ${capped.map((s) => `pair ${s.pair} ${s.system}`).join(', ')}: every step held up to ` +
        `BENCH_E2E_RAMP_MAX ${options.rampMax}/s, so the max sustained is a lower bound (≥) and its ratio is not a measurement.`,
    );
  for (const run of report.runs) {
    const other = Math.max(
      ...[run.fixed?.figures, ...(run.ramp?.steps ?? []).map((s) => s.figures)].map(
        (f) => f?.usage.cores.other ?? 0,
      ),
    );
    if (other > 0.25)
      lines.push(
        `- pair ${run.pair} ${run.system}: other processes used up to ${other.toFixed(2)} cores during a measured ` +
          'window (machine not quiet)',
      );
    for (const [phase, r] of [
      ['fixed', run.fixed],
      ['ramp', run.ramp],
    ] as const)
      if (r && !r.ok) lines.push(`- pair ${run.pair} ${run.system} ${phase}: FAILED: ${r.error}`);
  }
  const split = report.summary.comparisons.filter(
    (c) =>
      c.target?.holds !== undefined &&
      c.target.holdsPerPair !== undefined &&
      c.target.holds !== c.target.holdsPerPair,
  );
  for (const c of split)
    lines.push(
      `- ${c.name}: the ratio of the medians (${fixed(c.ratio, 2)}) and the median of the pairs' ratios ` +
        `(${fixed(c.medianPairRatio, 2)}) fall on different sides of the target.`,
    );
  return lines;
}

function pairedMarkdown(report: PairedReport): string {
  const runs = runTable(report.summary.runs);
  const o = report.options;
  const phases =
    o.phases === 'both' ? 'a fixed run, then a ramp' : o.phases === 'fixed' ? 'a fixed run' : 'a ramp';
  return [
    `### e2e side by side: igdm and the baseline (seed 003), ${report.date}`,
    '',
    machineLine(report.machine),
    `- Command: \`${report.command}\`${o.igdmRoot === ROOT ? '' : ` (igdm from ${o.igdmRoot})`}`,
    `- ${o.pairs} pair${o.pairs === 1 ? '' : 's'}, alternating which system goes first; each system runs ${phases} ` +
      `on a fresh instance against a fresh standalone sandbox (\`igdm sandbox\`, Send API limit lifted to ${LIFTED}/s) ` +
      `with the same generator: ${o.conversations} customers write once first, then signed webhooks, open loop.` +
      (o.phases === 'ramp' ? '' : ` Fixed run: ${o.durationS} s at ${o.rate}/s after ${o.warmupS} s.`) +
      (o.phases === 'fixed'
        ? ''
        : ` Ramp: from ${o.rampStart}/s, ×${o.rampFactor} every ${o.rampStepS} s (after 2 s), while p99 ≤ ` +
          `${o.p99LimitMs} ms and replies keep up.`),
    '- igdm: `bin/igdm.mjs start`, fresh SQLite store, README rules, no AI; its CPU is its process. The baseline: ' +
      `\`${path.basename(o.peerDir)}\` (Express server + BullMQ worker, concurrency ${o.peerConcurrency}, Redis); ` +
      'its CPU is the server, the worker and the Redis server together.',
    '',
    ...markdownTable(runs.head, runs.rows, runs.left),
    '',
    ...markdownTable(COMPARISON_HEAD, report.summary.comparisons.map(comparisonRow), [0, 5, 6]),
    '',
    ...notes(report),
  ].join('\n');
}

/** The output of a paired run: every phase, each run, the medians and ratios, the Markdown block. */
export function pairedOutput(report: PairedReport, file: string, seconds: number): string {
  const rows = report.runs.flatMap((run) => phaseRows(`${run.pair} ${run.system}`, run.fixed, run.ramp));
  const runs = runTable(report.summary.runs);
  const out = [
    '',
    "Every phase (system CPU: igdm; or the baseline's server + worker + Redis):",
    '',
    textTable(HEAD, rows),
    '',
    'Each run:',
    '',
    textTable(runs.head, runs.rows),
    '',
    'Medians and ratios (target on the ratio of the medians):',
    '',
    textTable(COMPARISON_HEAD, report.summary.comparisons.map(comparisonRow)),
    '',
    ...notes(report).map((line) => line.replace(/^- /, 'NOTE ')),
  ];
  for (const c of report.summary.comparisons.filter((c) => c.target))
    out.push(
      `target ${c.name}: igdm / baseline ${fixed(c.ratio, 2)} (${c.target!.limit}): ` +
        (c.target!.holds === undefined ? 'not measured' : c.target!.holds ? 'met' : 'NOT met'),
    );
  out.push('', `results: ${path.relative(ROOT, file)} (${seconds.toFixed(0)} s)`, '');
  out.push('Markdown for BENCHMARKS.md:', '', pairedMarkdown(report), '');
  return out.join('\n');
}
