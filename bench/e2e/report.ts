// Reporting: the table of phases (one row per fixed run or ramp step), the results file, and the
// whole output of a run of igdm alone (modes fixed, ramp, both). The paired comparison is paired.ts.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fixed, type machine, textTable } from '../support.ts';
import { LIFTED, options, ROOT } from './options.ts';
import type { Figures } from './replies.ts';
import type { FixedResult, RampResult } from './runs.ts';
import { stageLines, stagesMarkdown } from './stages.ts';
import type { Distribution } from './stats.ts';

export type MachineInfo = ReturnType<typeof machine> & {
  loadAtStart: string;
  backgroundCoresAtStart: number;
};

export function commandLine(): string {
  const set = Object.keys(process.env)
    .filter((name) => name.startsWith('BENCH_E2E_') && (process.env[name] ?? '') !== '')
    .sort()
    .map((name) => `${name}=${process.env[name]}`);
  return [...set, 'npm run bench:e2e'].join(' ');
}

export function machineLine(m: MachineInfo): string {
  return (
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM, ${m.os}, Node ${m.node}; at start: ` +
    `load average ${m.loadAtStart}, ${m.backgroundCoresAtStart} cores busy with other work`
  );
}

const ms = (d: Distribution) =>
  `${fixed(d.p50, 1)} / ${fixed(d.p90, 1)} / ${fixed(d.p99, 1)} / ${fixed(d.max, 0)}`;

/** The system's cores, and each of its processes' when it has several (the baseline). */
export function systemCores(f: Figures): string {
  const parts = Object.values(f.usage.cores.parts);
  const total = fixed(f.usage.cores.system, 2);
  return parts.length > 1 ? `${total} (${parts.map((v) => fixed(v, 2)).join('+')})` : total;
}

export const HEAD = [
  'run',
  'rate (/s)',
  'replied / sent',
  'lost',
  'late',
  'dup',
  'replies/s',
  'e2e p50 / p90 / p99 / max (ms)',
  'ack p50 / p90 / p99 / max (ms)',
  'e2e/ack p50, p99',
  'CPU system / sandbox / runner / other (cores)',
  'CPU-s / 1000 replies',
  'RSS / peak (MB)',
  'load before → after',
];

export function row(name: string, f: Figures): string[] {
  const c = f.usage.cores;
  return [
    name,
    String(f.rate),
    `${f.replied} / ${f.sent}`,
    String(f.lost),
    String(f.late),
    String(f.duplicated),
    fixed(f.replyRate, 1),
    ms(f.e2eMs),
    ms(f.ackMs),
    `${fixed(f.e2eMs.p50 / f.ackMs.p50, 1)}, ${fixed(f.e2eMs.p99 / f.ackMs.p99, 1)}`,
    `${systemCores(f)} / ${fixed(c.sandbox, 2)} / ${fixed(c.runner, 2)} / ${fixed(c.other, 2)}`,
    fixed(f.cpuPer1000, 2),
    `${fixed(f.rss.rssMB, 0)} / ${fixed(f.rss.peakRssMB, 0)}`,
    `${f.usage.loadBefore.split(' ')[0]} → ${f.usage.loadAfter.split(' ')[0]}`,
  ];
}

/** The rows of one system's runs: its fixed run, then its ramp's steps (✗: the step that failed). */
export function phaseRows(prefix: string, fixedResult?: FixedResult, ramp?: RampResult): string[][] {
  const out: string[][] = [];
  const name = (s: string) => (prefix ? `${prefix} ${s}` : s);
  if (fixedResult?.figures) out.push(row(name('fixed'), fixedResult.figures));
  for (const step of ramp?.steps ?? []) out.push(row(name(`ramp${step.holds ? '' : ' ✗'}`), step.figures));
  return out;
}

/** A Markdown table; the columns in `left` (by index; the first by default) are left-aligned, the rest right. */
export function markdownTable(head: string[], rows: string[][], left: number[] = [0]): string[] {
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (left.includes(i) ? '---' : '---:')).join('|')}|`,
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
  ];
}

/** Writes the report to bench/results/<name>-<date>-<time>.json; returns the path. */
export function writeResults(name: string, report: unknown): string {
  const resultsDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, '').replace('T', '-');
  const file = path.join(resultsDir, `${name}-${stamp}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  return file;
}

// ---------------------------------------------------------------- igdm alone

export interface SingleReport {
  date: string;
  machine: MachineInfo;
  command: string;
  options: typeof options;
  fixed?: FixedResult;
  ramp?: RampResult;
}

function rampLines(r: RampResult, bullet: string): string[] {
  const lines: string[] = [];
  const first = r.steps.find((step) => !step.holds);
  lines.push(
    r.maxSustained !== undefined
      ? `${bullet}Max sustained (p99 ≤ ${options.p99LimitMs} ms, replies keeping up): ${r.maxSustained} conversations/s` +
          (r.reachedMax
            ? ` (every step held up to BENCH_E2E_RAMP_MAX ${options.rampMax}/s: a lower bound)`
            : '')
      : `${bullet}Max sustained: below the ramp's first rate, ${options.rampStart}/s`,
  );
  if (first) lines.push(`${bullet}The ramp stopped at ${first.figures.rate}/s: ${first.why.join('; ')}`);
  return lines;
}

function singleMarkdown(report: SingleReport): string {
  const o = report.options;
  const lines = [
    `### e2e: inbound message → automated reply (${report.date})`,
    '',
    machineLine(report.machine),
    `- Command: \`${report.command}\`${o.igdmRoot === ROOT ? '' : ` (igdm from ${o.igdmRoot})`}`,
    `- igdm (\`bin/igdm.mjs start\`, fresh SQLite store, README rules, no AI) against a standalone sandbox ` +
      `(\`igdm sandbox\`); Send API limits lifted on both sides (${LIFTED}/s). ${o.conversations} customers ` +
      'write once first; then signed webhooks, one customer message each, round robin over them, open loop.',
    '',
    ...markdownTable(HEAD, phaseRows('', report.fixed, report.ramp)),
    '',
  ];
  if (report.fixed?.stages) lines.push(stagesMarkdown(report.fixed.stages));
  if (report.ramp?.ok) lines.push(...rampLines(report.ramp, '- '));
  if (report.fixed && !report.fixed.ok) lines.push(`- fixed: FAILED: ${report.fixed.error}`);
  if (report.ramp && !report.ramp.ok) lines.push(`- ramp: FAILED: ${report.ramp.error}`);
  return lines.join('\n');
}

/** The output of a run of igdm alone: the table, the stages, the target, the Markdown block. */
export function singleOutput(report: SingleReport, file: string, seconds: number): string {
  const out = ['', textTable(HEAD, phaseRows('', report.fixed, report.ramp)), ''];
  const f = report.fixed;
  if (f?.stages) out.push(...stageLines(f.stages), '');
  if (f?.figures) {
    const v = f.verdict!;
    out.push(
      `target at ${options.rate}/s: p50 ${f.figures.e2eMs.p50} ms (≤ 15: ${v.p50 ? 'holds' : 'NO'}), ` +
        `p99 ${f.figures.e2eMs.p99} ms (≤ 60: ${v.p99 ? 'holds' : 'NO'}), ` +
        `lost ${f.figures.lost}, duplicated ${f.figures.duplicated}`,
    );
    if (f.figures.usage.cores.other > 0.25)
      out.push(`FLAG fixed: other processes used ${f.figures.usage.cores.other} cores during the run`);
  }
  if (f && !f.ok) out.push(`FAILED fixed: ${f.error}`);
  const r = report.ramp;
  if (r?.ok) out.push(...rampLines(r, ''));
  if (r && !r.ok) out.push(`FAILED ramp: ${r.error}`);
  out.push('', `results: ${path.relative(ROOT, file)} (${seconds.toFixed(0)} s)`, '');
  out.push('Markdown for BENCHMARKS.md:', '', singleMarkdown(report), '');
  return out.join('\n');
}
