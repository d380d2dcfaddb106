// CPU over time, sampled every 200 ms: igdm's processes thread by thread, the sandbox, this runner,
// the machine, and the PostgreSQL server's processes on this machine: the backends of the
// configuration's database (its name is in their process title) apart from the server's own
// background processes (checkpointer, WAL writer ...: shared with every other database on the server).
// Any window's figures are then read off the series (interpolated), whatever process came or went.
import { readdirSync, readFileSync } from 'node:fs';
import { machineSeconds } from '../support.ts';

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** The name in parentheses and utime + stime in seconds, from a /proc/.../stat line. */
function stat(file: string): { comm: string; cpu: number } | undefined {
  try {
    const text = readFileSync(file, 'utf8');
    const close = text.lastIndexOf(')');
    const fields = text.slice(close + 2).split(' ');
    return {
      comm: text.slice(text.indexOf('(') + 1, close),
      cpu: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS,
    };
  } catch {
    return undefined; // gone
  }
}

type PgKind = 'backend' | 'background' | 'other' | 'none';

/** What a process is to this benchmark, from its command line (a PostgreSQL process's title). */
function classify(pid: string, database: string | null): PgKind {
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return 'none';
  }
  if (/^\S*\/postgres\s/.test(cmdline)) return 'background'; // the postmaster
  if (!cmdline.startsWith('postgres: ')) return 'none';
  if (database !== null && cmdline.split(' ').includes(database)) return 'backend';
  if (/ \d+\.\d+\.\d+\.\d+\(\d+\)| \[local\]/.test(cmdline)) return 'other'; // another database's client
  return 'background';
}

interface Series {
  t: number[];
  v: number[];
}

export interface WindowCpu {
  seconds: number;
  /** CPU-seconds in the window. */
  igdm: number;
  igdmByProcess: Record<string, number>;
  /** The busiest threads of igdm's processes, `process/thread (tid)`, CPU-seconds. */
  topThreads: { name: string; cpuS: number }[];
  pgBackends: number;
  /** Backends of the database that used CPU in the window. */
  pgBackendCount: number;
  pgBackground: number;
  sandbox: number;
  runner: number;
  machine: number;
}

export class CpuSampler {
  readonly #igdm: () => { name: string; pid: number }[];
  readonly #sandboxPid: () => number | undefined;
  readonly #database: string | null;
  readonly #kinds = new Map<string, PgKind>();
  readonly #series = new Map<string, Series>();
  #lastT = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    igdm: () => { name: string; pid: number }[],
    sandboxPid: () => number | undefined,
    database: string | null,
  ) {
    this.#igdm = igdm;
    this.#sandboxPid = sandboxPid;
    this.#database = database;
  }

  start(intervalMs = 200): void {
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.sample();
  }

  #put(key: string, t: number, value: number): void {
    let s = this.#series.get(key);
    if (s === undefined) {
      // Born since the last sample (a fork starts at zero CPU), unless this is the first sample.
      s = this.#lastT > 0 ? { t: [this.#lastT], v: [0] } : { t: [], v: [] };
      this.#series.set(key, s);
    }
    s.t.push(t);
    s.v.push(value);
  }

  sample(): void {
    const t = Date.now();
    for (const { name, pid } of this.#igdm()) {
      let tids: string[] = [];
      try {
        tids = readdirSync(`/proc/${pid}/task`);
      } catch {
        continue;
      }
      for (const tid of tids) {
        const s = stat(`/proc/${pid}/task/${tid}/stat`);
        if (s !== undefined) this.#put(`igdm\t${name}\t${s.comm} (${tid})`, t, s.cpu);
      }
    }
    const sandbox = this.#sandboxPid();
    if (sandbox !== undefined) {
      const s = stat(`/proc/${sandbox}/stat`);
      if (s !== undefined) this.#put('sandbox', t, s.cpu);
    }
    const self = stat('/proc/self/stat');
    if (self !== undefined) this.#put('runner', t, self.cpu);
    this.#put('machine', t, machineSeconds().busy);
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      let kind = this.#kinds.get(pid);
      if (kind === undefined) {
        kind = classify(pid, this.#database);
        this.#kinds.set(pid, kind);
      }
      if (kind !== 'backend' && kind !== 'background') continue;
      const s = stat(`/proc/${pid}/stat`);
      if (s !== undefined) this.#put(`pg-${kind}\t${pid}`, t, s.cpu);
    }
    this.#lastT = t;
  }

  /** CPU used between two Date.now() times, by part. */
  window(fromMs: number, toMs: number): WindowCpu {
    const at = (s: Series, time: number): number => {
      if (s.t.length === 0) return 0;
      if (time <= s.t[0]!) return s.v[0]!;
      if (time >= s.t.at(-1)!) return s.v.at(-1)!;
      let i = 1;
      while (s.t[i]! < time) i++;
      const [t0, t1, v0, v1] = [s.t[i - 1]!, s.t[i]!, s.v[i - 1]!, s.v[i]!];
      return t1 === t0 ? v1 : v0 + ((v1 - v0) * (time - t0)) / (t1 - t0);
    };
    const w: WindowCpu = {
      seconds: (toMs - fromMs) / 1000,
      igdm: 0,
      igdmByProcess: {},
      topThreads: [],
      pgBackends: 0,
      pgBackendCount: 0,
      pgBackground: 0,
      sandbox: 0,
      runner: 0,
      machine: 0,
    };
    const threads: { name: string; cpuS: number }[] = [];
    for (const [key, s] of this.#series) {
      const used = Math.max(0, at(s, toMs) - at(s, fromMs));
      const [kind, process, thread] = key.split('\t');
      if (kind === 'igdm') {
        w.igdm += used;
        w.igdmByProcess[process!] = (w.igdmByProcess[process!] ?? 0) + used;
        threads.push({ name: `${process}/${thread}`, cpuS: used });
      } else if (kind === 'pg-backend') {
        w.pgBackends += used;
        if (used > 0) w.pgBackendCount++;
      } else if (kind === 'pg-background') w.pgBackground += used;
      else if (kind === 'sandbox') w.sandbox = used;
      else if (kind === 'runner') w.runner = used;
      else if (kind === 'machine') w.machine = used;
    }
    w.topThreads = threads
      .filter((t) => t.cpuS > 0)
      .sort((a, b) => b.cpuS - a.cpuS)
      .slice(0, 5);
    return w;
  }
}
