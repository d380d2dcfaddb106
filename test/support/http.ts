import { type ChildProcess, spawn } from 'node:child_process';
import { type Agent, request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { storeEnvOf, testEnv } from './service.ts';

export { freePort } from './port.ts';

// Raw HTTP for tests that need control over the bytes and headers (fetch normalises both), and igdm
// as a real child process for the crash tests.

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The pinned Node (the machine's own `node` is too old). */
export const NODE_BIN = join(REPO_ROOT, 'node_modules', '.bin', 'node');

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * One HTTP request with exactly these headers (a header given as an array is sent once per value)
 * and this body. No content-type or content-length is added except content-length for the body.
 */
export function httpRequest(
  url: string,
  opts: {
    method?: string;
    headers?: Record<string, string | string[]>;
    body?: Buffer | string;
    agent?: Agent | false;
    timeoutMs?: number;
  } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
    const headers: Record<string, string | string[] | number> = { ...opts.headers };
    if (body !== undefined) headers['content-length'] = body.length;
    const req = request(url, { method: opts.method ?? 'GET', headers, agent: opts.agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(chunks).toString(),
        }),
      );
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`${url}: no answer in time`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A port nobody listens on right now. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface IgdmProcess {
  child: ChildProcess;
  url: string;
  /** Resolves when the process has exited. */
  exited: Promise<Exit>;
  /** Everything it wrote on stdout and stderr so far. */
  output(): string;
}

const running = new Set<ChildProcess>();

/**
 * `igdm start` (with `args`) as a child process on the store in `dir`; resolves once /readyz answers 200.
 * `openFiles` limits the file descriptors it may hold (soft and hard, as on a host with a low limit).
 */
export async function spawnIgdm(
  dir: string,
  port: number,
  extraEnv: Record<string, string> = {},
  opts: { openFiles?: number; args?: string[]; readyMs?: number } = {},
): Promise<IgdmProcess> {
  const env = {
    ...testEnv(dir),
    // On PostgreSQL (IGDM_TEST_STORE), the folder's database.
    ...(extraEnv.DATABASE_URL ? {} : await storeEnvOf(dir)),
    PORT: String(port),
    LOG_LEVEL: 'warn',
    PATH: process.env.PATH ?? '',
    ...extraEnv,
  };
  const igdm = [NODE_BIN, join('bin', 'igdm.mjs'), 'start', ...(opts.args ?? [])];
  // The shell sets the limit and then becomes igdm (exec): the child's pid is igdm's.
  const [command, ...args] = opts.openFiles
    ? ['/bin/sh', '-c', `ulimit -n ${opts.openFiles} && exec "$0" "$@"`, ...igdm]
    : igdm;
  const child = spawn(command!, args, {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  let exit: Exit | null = null;
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      exit = { code, signal };
      resolve(exit);
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyMs ?? 15_000);
  for (;;) {
    if (exit) throw new Error(`igdm exited (${JSON.stringify(exit)}) before it was ready:\n${out}`);
    const ready = await httpRequest(`${url}/readyz`, { agent: false, timeoutMs: 1000 }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`igdm was not ready within ${(opts.readyMs ?? 15_000) / 1000} s:\n${out}`);
    }
    await sleep(25);
  }
  return { child, url, exited, output: () => out };
}

export interface CommandRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** An igdm command (`replay`, `migrate`, ...) on the store in `dir`, run to its end. */
export async function runIgdm(
  dir: string,
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<CommandRun> {
  const store = extraEnv.DATABASE_URL ? {} : await storeEnvOf(dir);
  return runCommand(args, { ...testEnv(dir), ...store, ...extraEnv });
}

/** `igdm ARGS` on the pinned Node with exactly this environment, run to its end. */
export function runCommand(args: string[], env: Record<string, string>): Promise<CommandRun> {
  return new Promise((done, fail) => {
    const child = spawn(NODE_BIN, [join('bin', 'igdm.mjs'), ...args], { cwd: REPO_ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** SIGKILLs the children spawnIgdm started that are still running (for afterAll). */
export async function killSpawned(): Promise<void> {
  const waits = [...running].map(
    (child) =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  );
  await Promise.all(waits);
}
