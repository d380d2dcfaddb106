// What the benchmarks share: the pinned Node binary, free loopback ports, the machine's description,
// option parsing and table formatting; child processes and what they use (CPU, memory).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

export function nodeBinary(): string {
  const pinned = path.join(ROOT, 'node_modules', '.bin', 'node');
  return existsSync(pinned) ? pinned : process.execPath;
}

export { freePort } from '../test/support/port.ts';

export function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (model?.[1] !== undefined) cpu = model[1].trim();
  } catch {
    // Not Linux.
  }
  return {
    cpu,
    cores: os.availableParallelism(),
    ramGiB: Number((os.totalmem() / 1024 ** 3).toFixed(1)),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

/** A plain-text table: the head, a rule, the rows. */
export function textTable(head: string[], rows: string[][]): string {
  const widths = head.map((head, i) =>
    Math.max(head.length, ...rows.map((cells) => (cells[i] ?? '').length)),
  );
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  return [line(head), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

/** The median of the finite values (the mean of the middle two for an even count); undefined if none. */
export function median(values: (number | undefined)[]): number | undefined {
  const sorted = values
    .filter((v): v is number => v !== undefined && Number.isFinite(v))
    .sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const fixed = (value: number | undefined, digits: number): string =>
  value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits);

// ---------------------------------------------------------------- child processes

export interface Child {
  name: string;
  process: ChildProcess;
  /** The last 8000 characters it wrote on stdout and stderr. */
  output: string;
  exited: boolean;
  exitDescription: string;
}

const children = new Set<Child>();
let cleanupInstalled = false;

function killGroup(child: Child, signal: NodeJS.Signals): void {
  const pid = child.process.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal); // its own process group (detached)
  } catch {
    // Already gone.
  }
}

/**
 * The pinned Node running `args` in `cwd`, in a process group of its own (so that its PID is the
 * measured process, and it is killed with the runner), with only `env` and a few basics set.
 */
export function startChild(name: string, args: string[], env: Record<string, string>, cwd = ROOT): Child {
  if (!cleanupInstalled) {
    cleanupInstalled = true;
    process.on('exit', () => {
      for (const child of children) killGroup(child, 'SIGKILL');
    });
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => process.exit(130));
    }
  }
  const base: Record<string, string> = {};
  for (const key of ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR']) {
    const value = process.env[key];
    if (value !== undefined) base[key] = value;
  }
  const proc = spawn(nodeBinary(), args, {
    cwd,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const child: Child = { name, process: proc, output: '', exited: false, exitDescription: '' };
  const keep = (chunk: Buffer): void => {
    child.output = (child.output + chunk.toString('utf8')).slice(-8000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  proc.on('error', (error) => {
    child.exited = true;
    child.exitDescription = `spawn failed: ${error.message}`;
  });
  proc.on('exit', (code, signal) => {
    child.exited = true;
    child.exitDescription = signal !== null ? `killed by ${signal}` : `exited with code ${code}`;
  });
  children.add(child);
  return child;
}

/** SIGTERM, then SIGKILL after 5 s. */
export async function stopChild(child: Child): Promise<void> {
  if (!child.exited) {
    const exited = new Promise<void>((resolve) => child.process.once('exit', () => resolve()));
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  killGroup(child, 'SIGKILL');
  children.delete(child);
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** utime + stime in seconds of a process (its threads included), or of this one. */
export function cpuSeconds(pid: number | 'self'): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN; // gone, or not Linux
  }
}

/** Busy and stolen seconds of the whole machine, all CPUs together. */
export function machineSeconds(): { busy: number; steal: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return {
      busy: (user! + nice! + system! + irq! + softirq!) / CLOCK_TICKS,
      steal: (steal ?? 0) / CLOCK_TICKS,
    };
  } catch {
    return { busy: Number.NaN, steal: Number.NaN };
  }
}

/** A memory figure of a process from /proc/<pid>/status, in MB (VmRSS, VmHWM, ...). */
export function statusMB(pid: number, key: string): number {
  try {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? Number.NaN : Number((Number(match[1]) / 1024).toFixed(1));
  } catch {
    return Number.NaN;
  }
}
