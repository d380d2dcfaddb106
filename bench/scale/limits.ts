// What limits a configuration, from what was measured at its limiting rate (or at ingest
// saturation): the machine's two cores, one thread at a full core, or neither (then it waits: on
// locks, round trips, the pool); and which stage of an event's way took the time, from the store.

import type { Stages } from '../e2e/stages.ts';
import { fixed } from '../support.ts';
import type { WindowCpu } from './cpu.ts';
import type { Configuration } from './options.ts';

export interface Limit {
  /** The rate it was read at (undefined at ingest saturation). */
  rate?: number;
  /** Cores: the machine, igdm's processes, the database's backends, the busiest thread. */
  machineCores: number;
  igdmCores: number;
  postgresCores: number;
  busiestThread?: { name: string; cores: number };
  /** The stage with the highest median, when the store's times were read. */
  slowestStage?: { name: string; p50Ms: number; p99Ms: number };
  summary: string;
}

const STAGE_NAMES: [keyof Stages, string][] = [
  ['postToReceived', 'POST → received (HTTP, ingest)'],
  ['receivedToApplied', 'received → applied (the projection)'],
  ['appliedToQueued', 'applied → reply queued (queue, engine)'],
  ['queuedToSandbox', 'reply queued → Send API (sender)'],
];

/** Cores at which the machine (2 cores) counts as full, and a thread as CPU-bound. */
const MACHINE_FULL = 0.9;
const THREAD_FULL = 0.85;

export function limitOf(cpu: WindowCpu, configuration: Configuration, stages?: Stages, rate?: number): Limit {
  const cores = (cpuS: number) => Number((cpuS / cpu.seconds).toFixed(2));
  const capacity = 2;
  const top = cpu.topThreads[0];
  const limit: Limit = {
    ...(rate === undefined ? {} : { rate }),
    machineCores: cores(cpu.machine),
    igdmCores: cores(cpu.igdm),
    postgresCores: cores(cpu.pgBackends),
    ...(top === undefined ? {} : { busiestThread: { name: top.name, cores: cores(top.cpuS) } }),
    summary: '',
  };
  if (stages !== undefined) {
    // By the median: behind a backlog every event waits, not only the tail.
    const [key, name] = STAGE_NAMES.reduce((a, b) =>
      (stages[b[0]].p50 || 0) > (stages[a[0]].p50 || 0) ? b : a,
    );
    limit.slowestStage = { name, p50Ms: stages[key].p50, p99Ms: stages[key].p99 };
  }
  const parts: string[] = [];
  const sandbox = cores(cpu.sandbox);
  const runner = cores(cpu.runner);
  const other = Math.max(0, limit.machineCores - limit.igdmCores - limit.postgresCores - sandbox - runner);
  const split =
    `igdm ${fixed(limit.igdmCores, 2)}` +
    (configuration.store === 'postgres'
      ? ` + PostgreSQL ${fixed(limit.postgresCores, 2)} (+ ${fixed(cores(cpu.pgBackground), 2)} its background)`
      : '') +
    ` + sandbox ${fixed(sandbox, 2)} + generator ${fixed(runner, 2)} + other work ${fixed(other, 2)}`;
  if (limit.machineCores >= MACHINE_FULL * capacity) parts.push(`both cores busy (${split})`);
  if (limit.busiestThread && limit.busiestThread.cores >= THREAD_FULL)
    parts.push(
      `CPU-bound thread ${limit.busiestThread.name} at ${fixed(limit.busiestThread.cores, 2)} cores`,
    );
  if (parts.length === 0)
    parts.push(
      `no core saturated (machine ${fixed(limit.machineCores, 2)} of 2 cores: ${split}; busiest thread ` +
        `${limit.busiestThread?.name ?? '–'} ${fixed(limit.busiestThread?.cores, 2)}): waiting, not CPU`,
    );
  if (limit.slowestStage) {
    const projectionWaits =
      configuration.store === 'postgres' &&
      limit.slowestStage.name.includes('projection') &&
      limit.machineCores < MACHINE_FULL * capacity;
    parts.push(
      `slowest stage ${limit.slowestStage.name}, p50 ${fixed(limit.slowestStage.p50Ms, 0)} / p99 ${fixed(limit.slowestStage.p99Ms, 0)} ms` +
        (projectionWaits
          ? ' (one process applies at a time, under its lock, a round trip per statement)'
          : ''),
    );
  }
  limit.summary = parts.join('; ');
  return limit;
}
