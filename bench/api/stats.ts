// Latency figures from samples (milliseconds).

export interface Latency {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

const at = (sorted: Float64Array | number[], p: number): number =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

const round = (v: number) => Number(v.toFixed(2));

export function latency(values: ArrayLike<number>): Latency {
  const sorted = Float64Array.from(values).sort();
  return {
    n: sorted.length,
    p50: round(at(sorted, 50)),
    p95: round(at(sorted, 95)),
    p99: round(at(sorted, 99)),
    max: round(sorted.length ? sorted[sorted.length - 1]! : Number.NaN),
  };
}
