// Figures from samples: percentiles, medians, and how busy the machine is.
import os from 'node:os';
import { cpuSeconds, machineSeconds } from '../support.ts';
import { sleep } from './options.ts';

const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

export interface Distribution {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function distribution(values: number[]): Distribution {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const round = (v: number) => Number(v.toFixed(2));
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? Number.NaN),
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
  };
}

/** Cores the rest of the machine keeps busy over one second while the runner idles. */
export async function backgroundCores(): Promise<number> {
  const m0 = machineSeconds().busy;
  const s0 = cpuSeconds('self');
  await sleep(1000);
  return Number((machineSeconds().busy - m0 - (cpuSeconds('self') - s0)).toFixed(2));
}

export function loadAverage(): string {
  return os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');
}
