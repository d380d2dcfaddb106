// igdm under test: `bin/igdm.mjs start` (as `npm start`) on a store in a folder of its own, with the
// `default` channel from the environment; and a small HTTP client for its API (keep-alive, timed from
// the request's start to the last byte of the answer).
import http from 'node:http';
import path from 'node:path';
import { type Child, freePort, startChild, statusMB, stopChild } from '../support.ts';
import { API_KEY, defaultChannelEnv, HOST, log, options, SECRET_KEY, sleep } from './options.ts';

export interface Answer {
  status: number;
  body: string;
  ms: number;
}

/** One client: at most `sockets` connections, kept alive. */
export class Client {
  readonly #agent: http.Agent;
  readonly #port: number;

  constructor(port: number, sockets = 1) {
    this.#port = port;
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  }

  request(method: string, pathname: string, body?: unknown): Promise<Answer> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const req = http.request(
        {
          host: HOST,
          port: this.#port,
          method,
          path: pathname,
          agent: this.#agent,
          headers: {
            authorization: `Bearer ${API_KEY}`,
            ...(payload !== undefined && {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(payload),
            }),
          },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              ms: performance.now() - started,
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${pathname} timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  get = (pathname: string) => this.request('GET', pathname);

  /** The answer's JSON, which must come with `status`. */
  async json<T>(method: string, pathname: string, body?: unknown, status = 200): Promise<T> {
    const r = await this.request(method, pathname, body);
    if (r.status !== status)
      throw new Error(`${method} ${pathname} answered ${r.status}: ${r.body.slice(0, 300)}`);
    return (r.body === '' ? undefined : JSON.parse(r.body)) as T;
  }

  close(): void {
    this.#agent.destroy();
  }
}

export class Igdm {
  readonly child: Child;
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  readonly api: Client;

  private constructor(child: Child, port: number, dir: string) {
    this.child = child;
    this.port = port;
    this.url = `http://${HOST}:${port}`;
    this.dir = dir;
    this.api = new Client(port, 8);
  }

  /** igdm on the store `dir/igdm.sqlite`, its Graph API at `graphUrl`; resolves once /readyz says ready. */
  static async start(dir: string, graphUrl: string, root = options.igdmRoot): Promise<Igdm> {
    const port = await freePort();
    const started = performance.now();
    const child = startChild(
      'igdm',
      [
        '--max-semi-space-size=4', // as npm start
        ...(options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : []),
        'bin/igdm.mjs',
        'start',
      ],
      {
        ...defaultChannelEnv(graphUrl),
        LOG_LEVEL: 'warn',
        PORT: String(port),
        HOST,
        DATABASE_URL: `sqlite:${path.join(dir, 'igdm.sqlite')}`,
        IGDM_API_KEY: API_KEY,
        IGDM_SECRET_KEY: SECRET_KEY,
      },
      root,
    );
    const igdm = new Igdm(child, port, dir);
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exited) throw new Error(`igdm ${child.exitDescription}:\n${child.output.slice(-2000)}`);
      try {
        if ((await igdm.api.get('/readyz')).status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`igdm not ready after 120 s:\n${child.output.slice(-2000)}`);
      await sleep(100);
    }
    log(`igdm ready in ${((performance.now() - started) / 1000).toFixed(1)} s (${root})`);
    return igdm;
  }

  get pid(): number {
    return this.child.process.pid!;
  }

  peakRssMB(): number {
    return statusMB(this.pid, 'VmHWM');
  }

  async stop(): Promise<void> {
    this.api.close();
    await stopChild(this.child);
    const output = this.child.output.trim();
    if (output !== '') log(`igdm's output (last lines):\n${output.split('\n').slice(-10).join('\n')}`);
  }
}
