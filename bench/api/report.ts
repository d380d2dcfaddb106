// The API benchmark's report: per run and the median of the runs, against the targets and,
// when a baseline checkout ran beside igdm, as ratios to it; as plain tables and as a Markdown block
// for BENCHMARKS.md.
import { fixed, median, textTable } from '../support.ts';
import type { Category, QueryResults } from './queries.ts';
import type { StreamResults } from './stream.ts';

export const TARGETS: Record<Category | 'stream', number> = { list: 20, thread: 20, search: 50, stream: 50 };
const CATEGORIES = ['list', 'thread', 'search'] as const;

export type SystemName = 'igdm' | 'baseline';

export interface Run {
  run: number;
  system: SystemName;
  /** The checkout it ran from. */
  root: string;
  /** The load average (1, 5, 15 min) and the cores the rest of the machine kept busy, before the run. */
  loadAverage: string;
  backgroundCores: number;
  readySeconds: number;
  queries: QueryResults | null;
  stream: StreamResults | null;
  peakRssMB: number;
}

export interface Report {
  date: string;
  machine: Record<string, unknown>;
  commits: Partial<Record<SystemName, string>>;
  command: string;
  seed: Record<string, unknown>;
  options: { clients: number } & Record<string, unknown>;
  runs: Run[];
  seconds?: number;
}

const ms = (v: number | undefined) => fixed(v, 1);

/** The median over `runs` of each operation's figure. */
const operationFigure = (runs: Run[], k: number, key: 'p50' | 'p95' | 'p99' | 'max') =>
  median(runs.map((r) => r.queries?.sequential[k]?.latency[key]));

function systemSummary(runs: Run[]) {
  const operations = runs.find((r) => r.queries)?.queries?.sequential ?? [];
  const categories = CATEGORIES.map((c) => {
    // Each operation's own p99 (median over the runs): the worst of its category decides.
    const own = operations.flatMap((op, k) => (op.category === c ? [operationFigure(runs, k, 'p99')] : []));
    const worst = own.length ? Math.max(...own.map((v) => v ?? Number.NaN)) : undefined;
    return {
      category: c,
      p99: median(runs.map((r) => r.queries?.categories[c].p99)),
      worstOperationP99: worst,
      concurrentP99: median(runs.map((r) => r.queries?.concurrent?.categories[c].p99)),
      target: TARGETS[c],
      met: worst === undefined ? null : worst <= TARGETS[c],
    };
  });
  const streams = runs.flatMap((r) => (r.stream ? [r.stream] : []));
  const stream = streams.length
    ? {
        createdToArrivalP50: median(streams.map((s) => s.createdToArrival.p50)),
        createdToArrivalP99: median(streams.map((s) => s.createdToArrival.p99)),
        postToArrivalP50: median(streams.map((s) => s.postToArrival.p50)),
        postToArrivalP99: median(streams.map((s) => s.postToArrival.p99)),
        postToCreatedP99: median(streams.map((s) => s.postToCreated.p99)),
        ackP99: median(streams.map((s) => s.ack.p99)),
        missing: streams.reduce((a, s) => a + s.missingMessages + s.missingEvents, 0),
        duplicates: streams.reduce((a, s) => a + s.duplicateMessages + s.outOfOrder, 0),
        igdmCores: median(streams.map((s) => s.cores.igdm)),
        target: TARGETS.stream,
        met:
          (median(streams.map((s) => s.createdToArrival.p99)) ?? Number.POSITIVE_INFINITY) <= TARGETS.stream,
      }
    : null;
  return { categories, stream, peakRssMB: median(runs.map((r) => r.peakRssMB)) };
}

export function summary(runs: Run[]) {
  const igdm = systemSummary(runs.filter((r) => r.system === 'igdm'));
  const baselineRuns = runs.filter((r) => r.system === 'baseline');
  const baseline = baselineRuns.length ? systemSummary(baselineRuns) : null;
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || b === 0 ? undefined : Number((a / b).toFixed(2));
  const ratios: Record<(typeof CATEGORIES)[number] | 'stream', number | undefined> | null = baseline
    ? {
        list: ratio(igdm.categories[0]!.p99, baseline.categories[0]!.p99),
        thread: ratio(igdm.categories[1]!.p99, baseline.categories[1]!.p99),
        search: ratio(igdm.categories[2]!.p99, baseline.categories[2]!.p99),
        stream: ratio(igdm.stream?.createdToArrivalP99, baseline.stream?.createdToArrivalP99),
      }
    : null;
  return { igdm, baseline, ratios };
}

export function output(report: Report, file: string): string {
  const { runs } = report;
  const lines: string[] = [];
  const commits = Object.entries(report.commits)
    .map(([s, c]) => `${s} ${c}`)
    .join(', ');
  lines.push(`\nbench:api — ${report.date}, ${commits}; results in ${file}\n`);
  lines.push(
    textTable(
      [
        'run',
        'system',
        'load avg',
        'busy cores before',
        'ready (s)',
        'list p99',
        'thread p99',
        'search p99',
        'stream lag p50 / p99',
        'POST→arrival p99',
        'missing, dup',
        'igdm cores (stream)',
        'peak RSS MB',
      ],
      runs.map((r) => [
        String(r.run),
        r.system,
        r.loadAverage,
        fixed(r.backgroundCores, 2),
        fixed(r.readySeconds, 1),
        ms(r.queries?.categories.list.p99),
        ms(r.queries?.categories.thread.p99),
        ms(r.queries?.categories.search.p99),
        r.stream ? `${ms(r.stream.createdToArrival.p50)} / ${ms(r.stream.createdToArrival.p99)}` : '–',
        ms(r.stream?.postToArrival.p99),
        r.stream
          ? `${r.stream.missingMessages + r.stream.missingEvents}, ${r.stream.duplicateMessages + r.stream.outOfOrder}`
          : '–',
        fixed(r.stream?.cores.igdm, 2),
        fixed(r.peakRssMB, 0),
      ]),
    ),
  );
  lines.push(`\n${markdown(report)}`);
  return `${lines.join('\n')}\n`;
}

/** The block for BENCHMARKS.md. */
export function markdown(report: Report): string {
  const s = summary(report.runs);
  const b = s.baseline;
  const yes = (met: boolean | null) => (met === null ? '–' : met ? 'yes' : '**no**');
  const head = b
    ? '| median of the runs | igdm, sequential | igdm, concurrent | baseline, sequential | igdm / baseline | target | met |'
    : '| median of the runs | sequential | concurrent | target | met |';
  const rows = s.igdm.categories.map((c, i) => {
    const figures = [`${ms(c.p99)} (worst operation ${ms(c.worstOperationP99)})`, ms(c.concurrentP99)];
    if (b) figures.push(ms(b.categories[i]!.p99), fixed(s.ratios?.[c.category], 2));
    return `| ${c.category} p99 (ms) | ${figures.join(' | ')} | ≤ ${c.target} | ${yes(c.met)} |`;
  });
  const st = s.igdm.stream;
  if (st) {
    const figures = [`${ms(st.createdToArrivalP99)} (p50 ${ms(st.createdToArrivalP50)})`, ''];
    if (b) figures.push(ms(b.stream?.createdToArrivalP99), fixed(s.ratios?.stream, 2));
    rows.push(
      `| stream lag p99 (ms), createdAt → arrival | ${figures.join(' | ')} | ≤ ${st.target} | ${yes(st.met)} |`,
    );
    const post = [`${ms(st.postToArrivalP50)} / ${ms(st.postToArrivalP99)}`, ''];
    if (b) post.push(`${ms(b.stream?.postToArrivalP50)} / ${ms(b.stream?.postToArrivalP99)}`, '');
    rows.push(`| webhook POST → arrival, p50 / p99 (ms) | ${post.join(' | ')} | | |`);
  }
  const first = report.runs.find((r) => r.system === 'igdm' && r.queries)?.queries?.sequential ?? [];
  const igdmRuns = report.runs.filter((r) => r.system === 'igdm');
  const baseRuns = report.runs.filter((r) => r.system === 'baseline');
  const operations = first.map((op, k) => {
    const cells = (['p50', 'p95', 'p99', 'max'] as const).map((key) => ms(operationFigure(igdmRuns, k, key)));
    if (b) cells.push(ms(operationFigure(baseRuns, k, 'p99')));
    return `| ${op.name} | ${cells.join(' | ')} |`;
  });
  return [
    `Command: \`${report.command}\` (${report.runs.length} runs; load average before each: ${report.runs
      .map((r) => r.loadAverage.split(' ')[0])
      .join(', ')}). Concurrent: ${report.options.clients} clients.`,
    '',
    head,
    `|---|${b ? '---:|---:|---:|---:|' : '---:|---:|'}---|---|`,
    ...rows,
    '',
    `| operation (sequential, ms) | p50 | p95 | p99 | max |${b ? ' baseline p99 |' : ''}`,
    `|---|---:|---:|---:|---:|${b ? '---:|' : ''}`,
    ...operations,
  ].join('\n');
}
