// The baseline under test: the conventional design of seed 003 in ../shared/peer-seed003 (outside
// this repository), an Express server (signature check, Redis dedup, BullMQ enqueue, 200) and a BullMQ
// worker (per-conversation Redis lock, the same `echo` rule, fetch to the Graph API), both on the
// project's pinned Node, on the Redis at BENCH_E2E_REDIS. Its keys live under a prefix of their own
// per run (PEER_PREFIX), deleted when the run ends. Its CPU is the server's, the worker's and the
// Redis server's (from /proc/<pid>/stat of each).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type Child, cpuSeconds, startChild, statusMB, stopChild } from '../support.ts';
import { CREDENTIALS, HOST, log, options } from './options.ts';
import { deletePrefix, RedisClient, redisPid } from './redis.ts';
import { type System, until } from './setup.ts';

const QUEUE = 'inbound'; // the baseline's BullMQ queue (common.mjs)
let runs = 0;

/** Installs the baseline's dependencies in its own folder when they are missing (npm install). */
export function ensureBaselineInstalled(): void {
  const dir = options.peerDir;
  if (!existsSync(path.join(dir, 'server.mjs')) || !existsSync(path.join(dir, 'worker.mjs')))
    throw new Error(`no baseline in ${dir} (server.mjs, worker.mjs); set BENCH_E2E_PEER_DIR`);
  const installed = ['bullmq', 'express', 'ioredis'].every((name) =>
    existsSync(path.join(dir, 'node_modules', name, 'package.json')),
  );
  if (installed) return;
  log(`installing the baseline's dependencies: npm install --no-audit --no-fund --prefix ${dir}`);
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefix', dir], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0)
    throw new Error(`npm install in ${dir} failed (${r.error?.message ?? `exit code ${r.status}`})`);
}

/** Before a paired run: the baseline is installed and its Redis answers (PING), with a readable PID. */
export async function checkBaseline(): Promise<void> {
  ensureBaselineInstalled();
  const redis = await RedisClient.connect(options.redis);
  try {
    const pong = await redis.command('PING');
    if (pong !== 'PONG')
      throw new Error(`Redis at ${options.redis} answered PING with ${JSON.stringify(pong)}`);
    const pid = await redisPid(redis);
    if (!Number.isFinite(cpuSeconds(pid)))
      log(`warning: Redis's process ${pid} is not readable in /proc: the baseline's CPU will miss Redis's`);
  } finally {
    redis.close();
  }
}

export class BaselineSystem implements System {
  readonly kind = 'baseline';
  readonly port: number;
  readonly url: string;
  readonly server: Child;
  readonly worker: Child;
  /** Every key of this run starts with `${prefix}:`. */
  readonly prefix: string;
  readonly redisPid: number;
  readonly #redis: RedisClient;

  private constructor(
    server: Child,
    worker: Child,
    port: number,
    prefix: string,
    redis: RedisClient,
    pid: number,
  ) {
    this.server = server;
    this.worker = worker;
    this.port = port;
    this.url = `http://${HOST}:${port}`;
    this.prefix = prefix;
    this.#redis = redis;
    this.redisPid = pid;
  }

  static async start(port: number, graphUrl: string): Promise<BaselineSystem> {
    ensureBaselineInstalled();
    const redis = await RedisClient.connect(options.redis);
    const prefix = `peerbench-e2e-${process.pid}-${++runs}`;
    let pid: number;
    try {
      pid = await redisPid(redis);
      await deletePrefix(redis, prefix);
    } catch (error) {
      redis.close();
      throw error;
    }
    const [redisHost, redisPort] = [
      options.redis.slice(0, options.redis.lastIndexOf(':')),
      options.redis.slice(options.redis.lastIndexOf(':') + 1),
    ];
    const env = {
      ...CREDENTIALS,
      NODE_ENV: 'production',
      PORT: String(port),
      HOST,
      INSTAGRAM_GRAPH_API_URL: graphUrl,
      PEER_PREFIX: prefix,
      PEER_CONCURRENCY: String(options.peerConcurrency),
      REDIS_HOST: redisHost,
      REDIS_PORT: redisPort,
    };
    const server = startChild('baseline server', ['server.mjs'], env, options.peerDir);
    const worker = startChild('baseline worker', ['worker.mjs'], env, options.peerDir);
    log(
      `baseline from ${options.peerDir} (worker concurrency ${options.peerConcurrency}), ` +
        `Redis ${options.redis} (PID ${pid}), keys under ${prefix}:`,
    );
    return new BaselineSystem(server, worker, port, prefix, redis, pid);
  }

  get children(): Child[] {
    return [this.server, this.worker];
  }

  async ready(): Promise<void> {
    const response = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`GET /healthz answered ${response.status}`);
    if (!this.worker.output.includes('peer worker ready')) throw new Error('the worker is not ready');
  }

  cpuProcesses(): { name: string; pid: number }[] {
    return [
      { name: 'server', pid: this.server.process.pid! },
      { name: 'worker', pid: this.worker.process.pid! },
      { name: 'redis', pid: this.redisPid },
    ];
  }

  /** Jobs waiting, active, delayed or prioritized in the baseline's BullMQ queue. */
  async backlog(): Promise<number> {
    const key = `${this.prefix}:bull:${QUEUE}`;
    const counts = await Promise.all([
      this.#redis.command('LLEN', `${key}:wait`),
      this.#redis.command('LLEN', `${key}:active`),
      this.#redis.command('ZCARD', `${key}:delayed`),
      this.#redis.command('ZCARD', `${key}:prioritized`),
    ]);
    return counts.reduce<number>((sum, n) => sum + Number(n), 0);
  }

  /**
   * The first messages were acknowledged (each enqueued, as the sandbox's delivery answered 200); the
   * worker finds no rule for "hello" and completes their jobs without a send. Waits for the queue to empty.
   */
  async settle(_count: number): Promise<void> {
    await until('the baseline to handle the first messages', this.children, 60_000, async () => {
      return (await this.backlog()) === 0;
    });
  }

  rss(): { rssMB: number; peakRssMB: number } {
    const sum = (key: string) =>
      Number(this.children.reduce((s, c) => s + statusMB(c.process.pid!, key), 0).toFixed(1));
    return { rssMB: sum('VmRSS'), peakRssMB: sum('VmHWM') };
  }

  lastOutput(): string {
    const lines = (c: Child) =>
      c.output
        .trim()
        .split('\n')
        .filter(Boolean)
        .slice(-10)
        .map((line) => `${c.name}: ${line}`);
    return [...lines(this.server), ...lines(this.worker)].join('\n');
  }

  /** Stops the worker and the server, then deletes the run's keys from Redis. */
  async stop(_keep = false): Promise<void> {
    await stopChild(this.worker);
    await stopChild(this.server);
    try {
      const deleted = await deletePrefix(this.#redis, this.prefix);
      log(`baseline: ${deleted} Redis keys under ${this.prefix}: deleted`);
    } catch (error) {
      log(`baseline: deleting the keys under ${this.prefix}: failed: ${(error as Error).message}`);
    } finally {
      this.#redis.close();
    }
  }
}
