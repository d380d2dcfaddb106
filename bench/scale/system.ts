// One configuration as a system under test (bench/e2e's `System`): igdm's processes on a fresh store.
// Embedded: `igdm start` on a new SQLite file, one process (every role). PostgreSQL: a new database
// on the server, one web process (IGDM_ROLE=web: HTTP and ingest; the webhooks go to it) and N worker
// processes (IGDM_ROLE=worker: projection, engine, sender), each with its own port, all sharing the
// database, the secret key and the data folder.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { AUTOMATION } from '../e2e/igdm.ts';
import { API_KEY, CREDENTIALS, HOST, LIFTED } from '../e2e/options.ts';
import { json, type System, until } from '../e2e/setup.ts';
import { type Child, freePort, startChild, statusMB, stopChild } from '../support.ts';
import { type Configuration, log, options } from './options.ts';

/** The server's URL without its password. */
export function describe(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  } catch {
    return 'BENCH_SCALE_POSTGRES_URL';
  }
}

/** A database of its own on the benchmark's PostgreSQL server, dropped after. */
export class BenchDatabase {
  readonly name = `igdm_bench_scale_${randomBytes(5).toString('hex')}`;
  readonly url: string;

  private constructor() {
    const url = new URL(options.postgresUrl);
    url.pathname = `/${this.name}`;
    this.url = url.toString();
  }

  static async #admin(sql: string): Promise<void> {
    const client = new pg.Client({ connectionString: options.postgresUrl, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }

  /** Fails, naming the fix, when the server does not answer or refuses to make a database. */
  static async check(): Promise<void> {
    const db = await BenchDatabase.create().catch((error: Error) => {
      throw new Error(
        `PostgreSQL at ${describe(options.postgresUrl)} cannot make a database (${error.message}): start it, or set BENCH_SCALE_POSTGRES_URL to a server and user that may create databases`,
      );
    });
    await db.drop();
  }

  static async create(): Promise<BenchDatabase> {
    const db = new BenchDatabase();
    await BenchDatabase.#admin(`create database ${db.name}`);
    return db;
  }

  async drop(): Promise<void> {
    await BenchDatabase.#admin(`drop database if exists ${this.name} with (force)`);
  }
}

interface Proc {
  name: string;
  child: Child;
  port: number;
}

export class ScaleSystem implements System {
  readonly kind = 'igdm';
  readonly port: number;
  readonly url: string;
  readonly configuration: Configuration;
  readonly database: BenchDatabase | null;
  readonly dir: string;
  readonly procs: Proc[] = [];
  readonly #spawnedAt = new Map<string, number>();

  private constructor(
    configuration: Configuration,
    port: number,
    dir: string,
    database: BenchDatabase | null,
  ) {
    this.configuration = configuration;
    this.port = port;
    this.url = `http://${HOST}:${port}`;
    this.dir = dir;
    this.database = database;
  }

  static async start(configuration: Configuration, port: number, graphUrl: string): Promise<ScaleSystem> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'igdm-bench-scale-'));
    const database = configuration.store === 'postgres' ? await BenchDatabase.create() : null;
    const system = new ScaleSystem(configuration, port, dir, database);
    const config = path.join(dir, 'automation.yaml');
    writeFileSync(config, AUTOMATION);
    const common: Record<string, string> = {
      ...CREDENTIALS,
      LOG_LEVEL: 'warn',
      HOST,
      IGDM_API_KEY: API_KEY,
      IGDM_CONFIG: config,
      INSTAGRAM_GRAPH_API_URL: graphUrl,
      IGDM_RATE_SEND_PER_SECOND: String(LIFTED),
      IGDM_RATE_MEDIA_PER_SECOND: String(LIFTED),
    };
    if (database === null) {
      system.#spawn('igdm', port, { ...common, DATABASE_URL: `sqlite:${path.join(dir, 'igdm.sqlite')}` });
      log(`${configuration.name}: igdm on ${system.url}, store in ${dir}`);
      return system;
    }
    Object.assign(common, {
      DATABASE_URL: database.url,
      IGDM_DATA_DIR: path.join(dir, 'data'),
      IGDM_SECRET_KEY: randomBytes(32).toString('hex'),
    });
    // The web process first: it migrates the database and registers the channel before the workers.
    system.#spawn('web', port, { ...common, IGDM_ROLE: 'web' });
    try {
      await until('the web process', system.children, 60_000, async () => {
        await system.#ready(system.procs[0]!);
        return true;
      });
      for (let i = 1; i <= configuration.workers; i++)
        system.#spawn(`worker${i}`, await freePort(), { ...common, IGDM_ROLE: 'worker' });
    } catch (error) {
      await system.stop();
      throw error;
    }
    log(
      `${configuration.name}: web on ${system.url}, ${configuration.workers} worker(s), database ${database.name}`,
    );
    return system;
  }

  #spawn(name: string, port: number, env: Record<string, string>): void {
    const child = startChild(
      name,
      [
        '--max-semi-space-size=4',
        ...(options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : []),
        ...(process.env.BENCH_IMPORT ? ['--import', process.env.BENCH_IMPORT] : []),
        'bin/igdm.mjs',
        'start',
      ],
      { ...env, PORT: String(port) },
      options.igdmRoot,
    );
    this.procs.push({ name, child, port });
    this.#spawnedAt.set(name, performance.now());
  }

  async #ready(proc: Proc): Promise<void> {
    const r = await json(`http://${HOST}:${proc.port}/readyz`);
    if (r.status !== 200) throw new Error(`${proc.name}: GET /readyz answered ${r.status}`);
  }

  get children(): Child[] {
    return this.procs.map((p) => p.child);
  }

  /**
   * Every process answers /readyz. A worker that serves no HTTP (IGDM_ROLE=worker may not listen)
   * counts as ready once it has run 3 s without exiting.
   */
  async ready(): Promise<void> {
    for (const proc of this.procs) {
      try {
        await this.#ready(proc);
      } catch (error) {
        const refused = (error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED';
        const age = performance.now() - (this.#spawnedAt.get(proc.name) ?? performance.now());
        if (!(proc.name.startsWith('worker') && refused && age > 3000)) throw error;
      }
    }
  }

  cpuProcesses(): { name: string; pid: number }[] {
    return this.procs.map((p) => ({ name: p.name, pid: p.child.process.pid! }));
  }

  async api(pathname: string): Promise<{ status: number; body: unknown }> {
    return json(this.url + pathname, { headers: { authorization: `Bearer ${API_KEY}` } });
  }

  async queueCounts(): Promise<{ ready: number; active: number; done: number; dead: number }> {
    const r = await this.api('/v1/jobs?limit=1');
    if (r.status !== 200) throw new Error(`GET /v1/jobs answered ${r.status}`);
    return (r.body as { counts: { ready: number; active: number; done: number; dead: number } }).counts;
  }

  async settle(count: number): Promise<void> {
    await until('igdm to handle the first messages', this.children, 120_000, async () => {
      const c = await this.queueCounts();
      return c.ready === 0 && c.active === 0 && c.done >= count;
    });
  }

  rss(): { rssMB: number; peakRssMB: number } {
    let rssMB = 0;
    let peakRssMB = 0;
    for (const p of this.procs) {
      rssMB += statusMB(p.child.process.pid!, 'VmRSS');
      peakRssMB += statusMB(p.child.process.pid!, 'VmHWM');
    }
    return { rssMB: Number(rssMB.toFixed(1)), peakRssMB: Number(peakRssMB.toFixed(1)) };
  }

  lastOutput(): string {
    return this.procs
      .map((p) => {
        const lines = p.child.output.trim().split('\n').filter(Boolean).slice(-10);
        return lines.length ? `${p.name}:\n${lines.join('\n')}` : '';
      })
      .filter(Boolean)
      .join('\n');
  }

  async stop(keep = false): Promise<void> {
    keep ||= options.keep;
    for (const p of [...this.procs].reverse()) await stopChild(p.child);
    if (keep) {
      log(`kept: ${this.dir}${this.database ? `, database ${this.database.name}` : ''}`);
      return;
    }
    rmSync(this.dir, { recursive: true, force: true });
    await this.database
      ?.drop()
      .catch((error: Error) => log(`dropping ${this.database!.name}: ${error.message}`));
  }
}
