// CPU over a measured window: the system's processes (igdm; or the baseline's server, worker and
// Redis), the sandbox, this runner, the whole machine, and what is left ("other").
import { cpuSeconds, machineSeconds } from '../support.ts';
import type { Setup } from './setup.ts';
import { loadAverage } from './stats.ts';

export interface Usage {
  seconds: number;
  /** Date.now() at the window's start and end: the clock the sandbox records replies with. */
  fromMs: number;
  toMs: number;
  /** CPU-seconds the system's processes used in the window, all together. */
  systemCpuS: number;
  /** CPU in cores: the system (and each of its processes), the sandbox, this runner, the machine, the rest. */
  cores: {
    system: number;
    parts: Record<string, number>;
    sandbox: number;
    runner: number;
    machine: number;
    other: number;
    steal: number;
  };
  loadBefore: string;
  loadAfter: string;
}

export class UsageMeter {
  readonly #setup: Setup;
  #t0 = 0;
  #from = 0;
  #parts: { name: string; pid: number; cpu: number }[] = [];
  #sandbox = 0;
  #self = 0;
  #machine = { busy: 0, steal: 0 };
  #load = '';

  constructor(setup: Setup) {
    this.#setup = setup;
  }

  start(): void {
    this.#t0 = performance.now();
    this.#from = Date.now();
    this.#parts = this.#setup.system.cpuProcesses().map((p) => ({ ...p, cpu: cpuSeconds(p.pid) }));
    this.#sandbox = cpuSeconds(this.#setup.sandbox.process.pid!);
    this.#self = cpuSeconds('self');
    this.#machine = machineSeconds();
    this.#load = loadAverage();
  }

  stop(): Usage {
    const seconds = (performance.now() - this.#t0) / 1000;
    const r = (v: number) => Number(v.toFixed(2));
    const parts: Record<string, number> = {};
    let systemCpuS = 0;
    for (const p of this.#parts) {
      const used = cpuSeconds(p.pid) - p.cpu;
      parts[p.name] = r(used / seconds);
      systemCpuS += used;
    }
    const sandbox = (cpuSeconds(this.#setup.sandbox.process.pid!) - this.#sandbox) / seconds;
    const runner = (cpuSeconds('self') - this.#self) / seconds;
    const m = machineSeconds();
    const busy = (m.busy - this.#machine.busy) / seconds;
    const system = systemCpuS / seconds;
    return {
      seconds: r(seconds),
      fromMs: this.#from,
      toMs: Date.now(),
      systemCpuS: Number(systemCpuS.toFixed(3)),
      cores: {
        system: r(system),
        parts,
        sandbox: r(sandbox),
        runner: r(runner),
        machine: r(busy),
        other: r(Math.max(0, busy - system - sandbox - runner)),
        steal: r((m.steal - this.#machine.steal) / seconds),
      },
      loadBefore: this.#load,
      loadAfter: loadAverage(),
    };
  }
}
