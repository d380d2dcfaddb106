// One run's processes: the sandbox (the Graph API stand-in, the same for igdm and the baseline) and
// the system under test, each a child process on a free loopback port, wired to each other: the
// sandbox delivers webhooks to the system, the system sends its replies to the sandbox's Graph API.
import { type Child, freePort, startChild, stopChild } from '../support.ts';
import { CREDENTIALS, HOST, LIFTED, log, type SystemKind, sleep } from './options.ts';

export async function json(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

/** Polls `check` every 100 ms until it holds; fails when one of `children` exits or time is up. */
export async function until(
  what: string,
  children: Child[],
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    for (const c of children)
      if (c.exited) throw new Error(`${c.name} ${c.exitDescription} (waiting for ${what})`);
    try {
      if (await check()) return;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (${last})` : ''}`);
}

/** What the runner needs of a system under test (igdm, or the baseline). */
export interface System {
  readonly kind: SystemKind;
  /** Where inbound webhooks are POSTed (`/webhooks/meta`). */
  readonly port: number;
  readonly url: string;
  /** Its child processes, watched for an early exit. */
  readonly children: Child[];
  /** Waits until it answers (igdm: /readyz; the baseline: /healthz and its worker ready). */
  ready(): Promise<void>;
  /** The processes whose CPU counts as the system's, by name (igdm; server, worker and Redis). */
  cpuProcesses(): { name: string; pid: number }[];
  /** Waits until the customers' first `count` messages are handled (its queue is empty). */
  settle(count: number): Promise<void>;
  /** Resident memory of its own processes (Redis not included), now and at its peak. */
  rss(): { rssMB: number; peakRssMB: number };
  /** The last lines its processes wrote. */
  lastOutput(): string;
  stop(keep?: boolean): Promise<void>;
}

/** Starts a system that sends to the Graph API at `graphUrl` and takes webhooks on `port`. */
export type SystemStarter = (port: number, graphUrl: string) => Promise<System>;

export class Setup {
  readonly sandbox: Child;
  readonly sandboxUrl: string;
  readonly system: System;

  private constructor(sandbox: Child, sandboxUrl: string, system: System) {
    this.sandbox = sandbox;
    this.sandboxUrl = sandboxUrl;
    this.system = system;
  }

  /** The sandbox, delivering webhooks to the system, and the system, sending to the sandbox. */
  static async start(label: string, startSystem: SystemStarter): Promise<Setup> {
    const sandboxPort = await freePort();
    const port = await freePort();
    const sandboxUrl = `http://${HOST}:${sandboxPort}`;
    const sandbox = startChild(
      'sandbox',
      [
        'bin/igdm.mjs',
        'sandbox',
        '--port',
        String(sandboxPort),
        '--host',
        HOST,
        '--webhook',
        `http://${HOST}:${port}/webhooks/meta`,
      ],
      {
        ...CREDENTIALS,
        LOG_LEVEL: 'warn',
        SANDBOX_SEND_PER_SECOND: String(LIFTED),
        SANDBOX_MEDIA_PER_SECOND: String(LIFTED),
      },
    );
    let system: System | undefined;
    try {
      system = await startSystem(port, `${sandboxUrl}/sandbox/graph`);
      log(`${label}: sandbox on ${sandboxUrl}, ${system.kind} on ${system.url}`);
      await until('the sandbox', [sandbox], 30_000, async () => {
        return (await json(`${sandboxUrl}/sandbox/customers`)).status === 200;
      });
      const s = system;
      await until(`${s.kind} to be ready`, [sandbox, ...s.children], 60_000, async () => {
        await s.ready();
        return true;
      });
    } catch (error) {
      if (system) {
        const output = system.lastOutput();
        if (output !== '') log(`${system.kind} output (last lines):\n${output}`);
        await system.stop(true);
      }
      await stopChild(sandbox);
      throw error;
    }
    return new Setup(sandbox, sandboxUrl, system);
  }

  /** Every child process of the run, the sandbox first. */
  get children(): Child[] {
    return [this.sandbox, ...this.system.children];
  }

  /**
   * The customers write once through the sandbox (`POST /sandbox/messages`), which opens their
   * windows there and delivers each message to the system as a webhook; then the system handles them.
   */
  async register(igsids: string[]): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < igsids.length) {
        const igsid = igsids[next++]!;
        const r = await json(`${this.sandboxUrl}/sandbox/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ from: igsid, text: 'hello' }),
        });
        const body = r.body as { igsid?: string; delivered?: { status: number } };
        if (r.status !== 200 || body.igsid !== igsid || body.delivered?.status !== 200)
          throw new Error(`POST /sandbox/messages answered ${r.status}: ${JSON.stringify(r.body)}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    await this.system.settle(igsids.length);
  }

  async stop(keep = false): Promise<void> {
    await this.system.stop(keep);
    await stopChild(this.sandbox);
  }
}
