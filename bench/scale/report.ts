// The output: one row per configuration (fixed rate, max sustained, ingest, CPU per 1000 events),
// what limits each, every rate phase, the targets, a Markdown block for BENCHMARKS.md; all of it in
// bench/results/scale-<date>-<time>.json.
import path from 'node:path';
import { ROOT } from '../e2e/options.ts';
import { type MachineInfo, machineLine, markdownTable } from '../e2e/report.ts';
import { fixed, textTable } from '../support.ts';
import { options } from './options.ts';
import type { ConfigurationResult, PerThousand, RatePhase } from './runs.ts';
import { describe } from './system.ts';

export interface ScaleReport {
  date: string;
  machine: MachineInfo & { loadAtEnd?: string };
  command: string;
  options: typeof options;
  results: ConfigurationResult[];
  targets: Target[];
  seconds?: number;
}

export interface Target {
  name: string;
  value: string;
  met: boolean | undefined;
}

export function commandLine(): string {
  const set = Object.keys(process.env)
    .filter((name) => name.startsWith('BENCH_SCALE_') && (process.env[name] ?? '') !== '')
    .sort()
    .map(
      (name) =>
        `${name}=${name === 'BENCH_SCALE_POSTGRES_URL' ? describe(process.env[name]!) : process.env[name]}`,
    );
  return [...set, 'npm run bench:scale'].join(' ');
}

/** The configuration's name, and its round when there are several. */
export const label = (r: ConfigurationResult): string =>
  options.rounds > 1 ? `${r.configuration.name} #${r.round}` : r.configuration.name;

const per = (p: PerThousand | undefined, store: string) =>
  p === undefined
    ? '–'
    : store === 'postgres'
      ? `${fixed(p.igdm, 2)} + ${fixed(p.postgres, 2)} = ${fixed(p.sum, 2)}`
      : fixed(p.igdm, 2);

const at = (r: ConfigurationResult): RatePhase | undefined =>
  r.steps.findLast((s) => s.rate === r.maxSustained && s.holds) ??
  (r.fixed?.rate === r.maxSustained ? r.fixed : undefined);

const sustained = (r: ConfigurationResult) => {
  if (r.maxSustained !== undefined) return `${r.reachedMax ? '≥ ' : ''}${r.maxSustained}`;
  const tried = [r.fixed, ...r.steps].filter((p) => p !== undefined).map((p) => p.rate);
  return tried.length ? `< ${Math.min(...tried)}` : '–';
};

/** Cores used idle: igdm, and the database's backends on PostgreSQL. */
const idle = (r: ConfigurationResult) =>
  r.idle === undefined
    ? '–'
    : fixed(r.idle.igdm / r.idle.seconds, 2) +
      (r.configuration.store === 'postgres' ? ` + ${fixed(r.idle.pgBackends / r.idle.seconds, 2)}` : '');

const HEAD = [
  'configuration',
  `fixed ${options.rate}/s: p50 / p99 (ms)`,
  'CPU-s / 1000 events at it (igdm + PostgreSQL)',
  `max sustained (/s, p99 ≤ ${options.p99LimitMs} ms)`,
  'at it: p50 / p99 (ms), cores (machine)',
  'CPU-s / 1000 at it',
  'ingest: acknowledged/s, p99 ack (ms)',
  'ingest CPU-s / 1000',
  'idle cores (igdm + PostgreSQL)',
  'replies checked',
];

function row(r: ConfigurationResult): string[] {
  const f = r.fixed?.figures;
  const m = at(r);
  const a = r.accounting;
  const store = r.configuration.store;
  return [
    label(r),
    f ? `${fixed(f.e2eMs.p50, 0)} / ${fixed(f.e2eMs.p99, 0)}${r.fixed!.holds ? '' : ' ✗'}` : '–',
    per(r.fixed?.per1000, store),
    sustained(r),
    m
      ? `${fixed(m.figures.e2eMs.p50, 0)} / ${fixed(m.figures.e2eMs.p99, 0)}, ${fixed((m.cpu.igdm + m.cpu.pgBackends) / m.cpu.seconds, 2)} (${fixed(m.cpu.machine / m.cpu.seconds, 2)})`
      : '–',
    per(m?.per1000, store),
    r.ingest ? `${fixed(r.ingest.ackPerSec, 0)}, ${fixed(r.ingest.ackMs.p99, 1)}` : '–',
    per(r.ingest?.per1000, store),
    idle(r),
    a ? `${a.answeredOnce} of ${a.events} once${r.ok ? '' : ' FAILED'}` : 'FAILED',
  ];
}

const PHASE_HEAD = [
  'configuration',
  'rate (/s)',
  'holds',
  'replies/s',
  'e2e p50 / p99 / max (ms)',
  'ack p99 (ms)',
  'cores: igdm (per process) / PostgreSQL / machine',
  'busiest thread (cores)',
  'CPU-s / 1000: igdm, PostgreSQL, server background',
  'why not',
];

function phaseRow(name: string, p: RatePhase): string[] {
  const c = (s: number) => fixed(s / p.cpu.seconds, 2);
  const f = p.figures;
  const top = p.cpu.topThreads[0];
  return [
    name,
    String(p.rate),
    p.holds ? 'yes' : 'no',
    fixed(f.replyRate, 0),
    `${fixed(f.e2eMs.p50, 0)} / ${fixed(f.e2eMs.p99, 0)} / ${fixed(f.e2eMs.max, 0)}`,
    fixed(f.ackMs.p99, 1),
    `${c(p.cpu.igdm)} (${Object.values(p.cpu.igdmByProcess).map(c).join('+')}) / ${c(p.cpu.pgBackends)} / ${c(p.cpu.machine)}`,
    top ? `${top.name} ${c(top.cpuS)}` : '–',
    `${fixed(p.per1000.igdm, 2)}, ${fixed(p.per1000.postgres, 2)}, ${fixed(p.per1000.pgBackground, 2)}`,
    p.why.join('; '),
  ];
}

function phaseRows(results: ConfigurationResult[]): string[][] {
  const rows: string[][] = [];
  for (const r of results) {
    if (r.fixed) rows.push(phaseRow(`${label(r)} fixed`, r.fixed));
    for (const s of r.steps) rows.push(phaseRow(`${label(r)} search`, s));
  }
  return rows;
}

export function targets(results: ConfigurationResult[]): Target[] {
  const rounds = [...new Set(results.map((r) => r.round))];
  const each = rounds.map((round) => roundTargets(results.filter((r) => r.round === round)));
  const out: Target[] = each.flatMap((ts, i) =>
    ts.map(({ name, value, met }) => ({
      name: rounds.length > 1 ? `${name}, round ${rounds[i]}` : name,
      value,
      met,
    })),
  );
  if (rounds.length > 1)
    for (const t of each[0] ?? []) {
      // Matched by name: each round's ratio, or none when that round could not judge it.
      const per = each.map((ts) => ts.find((x) => x.name === t.name)?.ratio);
      const ratios = per.filter((v): v is number => v !== undefined);
      if (ratios.length === 0) continue;
      const med = median(ratios);
      out.push({
        name: `${t.name}, median of ${ratios.length} round${ratios.length === 1 ? '' : 's'}`,
        value: `${ratioText(med)} (${per.map((v, i) => `round ${rounds[i]}: ${v === undefined ? '–' : ratioText(v)}`).join(', ')})`,
        met: med >= t.threshold,
      });
    }
  return out;
}

/** A ratio to print; ∞ when the rate it divides by was 0. */
const ratioText = (v: number) => (Number.isFinite(v) ? fixed(v, 2) : '∞');

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** One round's targets, with the ratio each is judged on (met when it is at least `threshold`). */
function roundTargets(results: ConfigurationResult[]): (Target & { ratio?: number; threshold: number })[] {
  const of = (name: string) => results.find((r) => r.configuration.name === name);
  // The highest rate held; 0 when not even the lowest tried held; undefined when the run failed.
  const rate = (r: ConfigurationResult | undefined) => (r?.ok ? (r.maxSustained ?? 0) : undefined);
  const e = rate(of('embedded'));
  const one = rate(of('pg-1-worker'));
  const two = rate(of('pg-2-workers'));
  const out: (Target & { ratio?: number; threshold: number })[] = [];
  if (of('embedded') && of('pg-1-worker'))
    out.push({
      name: `PostgreSQL, 1 worker, max sustained ≥ 0.5 × embedded (p99 ≤ ${options.p99LimitMs} ms)`,
      value: e && one !== undefined ? `${one} / ${e} = ${fixed(one / e, 2)}` : 'not measured',
      met: e && one !== undefined ? one >= 0.5 * e : undefined,
      ...(e && one !== undefined && { ratio: one / e }),
      threshold: 0.5,
    });
  if (of('pg-1-worker') && of('pg-2-workers')) {
    const measured = one !== undefined && two !== undefined && (one > 0 || two > 0);
    out.push({
      name: 'PostgreSQL, a second worker does not lower the max sustained',
      value: measured
        ? `${two} / ${one}${one ? ` = ${fixed(two! / one, 2)}` : ''}`
        : 'not measured (neither held a rate)',
      met: measured ? two! >= one! : undefined,
      // Two workers held a rate where one held none: as far above one worker as can be.
      ...(measured && { ratio: one! > 0 ? two! / one! : Number.POSITIVE_INFINITY }),
      threshold: 1,
    });
  }
  return out;
}

/** What more cores would give: the rate the CPU per event allows on N cores, if nothing else limited. */
function coreLines(results: ConfigurationResult[]): string[] {
  return results
    .filter((r) => r.fixed)
    .map((r) => {
      const s = r.fixed!.per1000.sum;
      const top = r.fixed!.cpu.topThreads[0];
      const topPer1000 = top ? (top.cpuS / r.fixed!.figures.windowReplies) * 1000 : undefined;
      return (
        `${label(r)}: ${fixed(s, 2)} CPU-s per 1000 events at ${options.rate}/s → CPU alone allows ` +
        `${fixed(2000 / s, 0)}/s on 2 cores, ${fixed(4000 / s, 0)}/s on 4, ${fixed(8000 / s, 0)}/s on 8` +
        (top && topPer1000
          ? `; its busiest thread (${top.name}, ${fixed(topPer1000, 2)} CPU-s per 1000) caps it at ${fixed(1000 / topPer1000, 0)}/s whatever the cores`
          : '')
      );
    });
}

function limitLines(results: ConfigurationResult[]): string[] {
  const out: string[] = [];
  for (const r of results) {
    if (r.limit) out.push(`${label(r)}, at ${r.limit.rate}/s: ${r.limit.summary}`);
    if (r.ingest) out.push(`${label(r)}, ingest at saturation: ${r.ingest.limit.summary}`);
  }
  return out;
}

export function markdown(report: ScaleReport): string {
  const lines = [
    `### bench/scale: one process on SQLite, PostgreSQL with one and two workers (${report.date})`,
    '',
    machineLine(report.machine),
    `- Command: \`${report.command}\` (${fixed(report.seconds, 0)} s; load average at the end ${report.machine.loadAtEnd})`,
    `- Each configuration on a fresh store, the README's rules (no AI), a standalone sandbox as the Graph API (Send API limits lifted), ` +
      `${options.conversations} customers. Latency: signed webhook POST → reply at the sandbox, open loop. Ingest: closed loop, ` +
      `${options.ingestConnections} connections, ${options.ingestS} s. CPU-s per 1000 events: igdm's processes + the database's PostgreSQL backends ` +
      "(the server's shared background processes apart, in the JSON).",
    '',
    ...markdownTable(HEAD, results(report).map(row)),
    '',
    ...limitLines(report.results).map((l) => `- ${l}`),
    ...coreLines(report.results).map((l) => `- ${l}`),
    ...report.targets.map(
      (t) => `- Target: ${t.name}: ${t.value}: ${t.met === undefined ? '–' : t.met ? 'met' : '**not met**'}`,
    ),
  ];
  return lines.join('\n');
}

const results = (report: ScaleReport) => report.results;

export function output(report: ScaleReport, file: string): string {
  const out = ['', textTable(HEAD, report.results.map(row)), ''];
  out.push('Every rate phase:', '', textTable(PHASE_HEAD, phaseRows(report.results)), '');
  out.push('What limits each:', ...limitLines(report.results).map((l) => `  ${l}`), '');
  out.push('What more cores would give:', ...coreLines(report.results).map((l) => `  ${l}`), '');
  for (const t of report.targets)
    out.push(`target: ${t.name}: ${t.value}: ${t.met === undefined ? '–' : t.met ? 'met' : 'NOT MET'}`);
  for (const r of report.results) for (const e of r.errors) out.push(`FAILED ${label(r)}: ${e}`);
  out.push('', `results: ${path.relative(ROOT, file)} (${fixed(report.seconds, 0)} s)`, '');
  out.push('Markdown for BENCHMARKS.md:', '', markdown(report), '');
  return out.join('\n');
}
