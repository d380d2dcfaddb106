// igdm under test: `bin/igdm.mjs start` (as `npm start`) on a fresh SQLite store in a temporary
// directory, the README's rules (no AI), the sandbox as its Graph API, the Send API limit lifted.
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { README_CONFIG } from '../../test/support/readme.ts';
import { type Child, startChild, statusMB, stopChild } from '../support.ts';
import { API_KEY, CREDENTIALS, HOST, LIFTED, log, options } from './options.ts';
import { json, type System, until } from './setup.ts';

/**
 * The README's automation example, its rules only (no AI): every inbound "seq N" goes through the
 * keyword rules to `echo`, which answers "ack seq N".
 */
export const AUTOMATION = README_CONFIG.slice(0, README_CONFIG.indexOf('\nai:') + 1);

export class IgdmSystem implements System {
  readonly kind = 'igdm';
  readonly port: number;
  readonly url: string;
  readonly process: Child;
  readonly dir: string;
  readonly dbPath: string;

  private constructor(process: Child, port: number, dir: string) {
    this.process = process;
    this.port = port;
    this.url = `http://${HOST}:${port}`;
    this.dir = dir;
    this.dbPath = path.join(dir, 'igdm.sqlite');
  }

  static async start(port: number, graphUrl: string): Promise<IgdmSystem> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'igdm-bench-e2e-'));
    const config = path.join(dir, 'automation.yaml');
    writeFileSync(config, AUTOMATION);
    if (options.profileDir) mkdirSync(options.profileDir, { recursive: true });
    const child = startChild(
      'igdm',
      [
        '--max-semi-space-size=4', // as npm start
        ...(options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : []),
        'bin/igdm.mjs',
        'start',
      ],
      {
        ...CREDENTIALS,
        LOG_LEVEL: 'warn',
        PORT: String(port),
        HOST,
        DATABASE_URL: `sqlite:${path.join(dir, 'igdm.sqlite')}`,
        IGDM_API_KEY: API_KEY,
        IGDM_CONFIG: config,
        INSTAGRAM_GRAPH_API_URL: graphUrl,
        IGDM_RATE_SEND_PER_SECOND: String(LIFTED),
        IGDM_RATE_MEDIA_PER_SECOND: String(LIFTED),
        ...options.igdmEnv,
      },
      options.igdmRoot,
    );
    log(`igdm from ${options.igdmRoot}, store in ${dir}`);
    return new IgdmSystem(child, port, dir);
  }

  get children(): Child[] {
    return [this.process];
  }

  async ready(): Promise<void> {
    const r = await json(`${this.url}/readyz`);
    if (r.status !== 200) throw new Error(`GET /readyz answered ${r.status}`);
  }

  cpuProcesses(): { name: string; pid: number }[] {
    return [{ name: 'igdm', pid: this.process.process.pid! }];
  }

  api(pathname: string): Promise<{ status: number; body: unknown }> {
    return json(this.url + pathname, { headers: { authorization: `Bearer ${API_KEY}` } });
  }

  /** The engine's queue: jobs ready, active, done and dead. */
  async queueCounts(): Promise<{ ready: number; active: number; done: number; dead: number }> {
    const r = await this.api('/v1/jobs?limit=1');
    if (r.status !== 200) throw new Error(`GET /v1/jobs answered ${r.status}`);
    return (r.body as { counts: { ready: number; active: number; done: number; dead: number } }).counts;
  }

  async settle(count: number): Promise<void> {
    await until('igdm to handle the first messages', [this.process], 60_000, async () => {
      const c = await this.queueCounts();
      return c.ready === 0 && c.active === 0 && c.done >= count;
    });
  }

  rss(): { rssMB: number; peakRssMB: number } {
    const pid = this.process.process.pid!;
    return { rssMB: statusMB(pid, 'VmRSS'), peakRssMB: statusMB(pid, 'VmHWM') };
  }

  /** The store's size on disk (database and WAL), in MB. */
  storeMB(): number {
    const mb = ['', '-wal'].reduce((sum, suffix) => {
      try {
        return sum + statSync(this.dbPath + suffix).size / 1e6;
      } catch {
        return sum;
      }
    }, 0);
    return Number(mb.toFixed(1));
  }

  lastOutput(): string {
    return this.process.output.trim().split('\n').slice(-20).join('\n');
  }

  /** Stops igdm's process and keeps its store (to read it). */
  async stopProcess(): Promise<void> {
    await stopChild(this.process);
  }

  async stop(keep = false): Promise<void> {
    await stopChild(this.process);
    if (!keep && !process.env.BENCH_E2E_KEEP) rmSync(this.dir, { recursive: true, force: true });
    else log(`store kept in ${this.dir}`);
  }
}
