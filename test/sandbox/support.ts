import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '../../src/meta/signature.ts';
import { runSandboxServer, type SandboxServer, type SandboxServerOptions } from '../../src/sandbox/index.ts';

// A stand-in gateway that records the webhooks it gets (raw bytes, headers, whether the signature
// verifies), a sandbox server on a free port, and a clock tests can move.

export const SECRET = 'sandbox-app-secret';
export const TOKEN = 'sandbox-access-token';
export const ACCOUNT = '17841400000000001';
export const START = Date.UTC(2026, 0, 15, 12, 0, 0);
export const HOUR = 3_600_000;

export interface Received {
  raw: string;
  headers: IncomingHttpHeaders;
  signed: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: webhook bodies are read field by field in assertions
  json: any;
}

export interface Gateway {
  url: string;
  received: Received[];
  /** Answer webhooks with this status from now on. */
  status: number;
  /** Resolves once `n` webhooks have arrived in total. */
  waitFor(n: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startGateway(secret = SECRET): Promise<Gateway> {
  const received: Received[] = [];
  let wake: () => void = () => {};
  const gateway: Gateway = {
    url: '',
    received,
    status: 200,
    async waitFor(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} webhooks, got ${received.length}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 20);
        });
      }
      return received;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const signature = req.headers['x-hub-signature-256'];
      received.push({
        raw: body.toString('utf8'),
        headers: req.headers,
        signed: verifySignature(body, typeof signature === 'string' ? signature : undefined, secret),
        json: JSON.parse(body.toString('utf8')),
      });
      res.writeHead(gateway.status, { 'content-type': 'text/plain' }).end('EVENT_RECEIVED');
      wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  gateway.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/meta`;
  return gateway;
}

export class Clock {
  t = START;
  now = () => this.t;
  advance(ms: number) {
    this.t += ms;
  }
}

export interface Sandbox extends SandboxServer {
  /** POST /sandbox/messages as a customer. */
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
  customer(action: Record<string, unknown>): Promise<{ status: number; body: any }>;
  /** A Graph call with the access token (unless `token` says otherwise). */
  graph(
    method: string,
    path: string,
    opts?: { body?: unknown; token?: string | null; query?: Record<string, string> },
  ): // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
  Promise<{ status: number; body: any; raw: string; headers: Headers }>;
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
  control(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
}

export async function startSandbox(
  gateway: Gateway,
  opts: Partial<Omit<SandboxServerOptions, 'webhookUrl'>> = {},
): Promise<Sandbox> {
  const server = await runSandboxServer({
    port: 0,
    host: '127.0.0.1',
    appSecret: SECRET,
    accessToken: TOKEN,
    accountId: ACCOUNT,
    webhookUrl: gateway.url,
    ...opts,
  });
  const control: Sandbox['control'] = async (method, path, body) => {
    const res = await fetch(`${server.url}/sandbox${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return {
    ...server,
    control,
    customer: (action) => control('POST', '/messages', action),
    async graph(method, path, o = {}) {
      const url = new URL(`${server.graphApiUrl}/v24.0/${path.replace(/^\//, '')}`);
      for (const [k, v] of Object.entries(o.query ?? {})) url.searchParams.set(k, v);
      const headers: Record<string, string> = {};
      const token = o.token === undefined ? TOKEN : o.token;
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (o.body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(url, {
        method,
        headers,
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
      });
      const raw = await res.text();
      return { status: res.status, raw, body: raw ? JSON.parse(raw) : undefined, headers: res.headers };
    },
  };
}

/** A customer who has written (so the window is open), by name. */
export async function writtenCustomer(sandbox: Sandbox, name = 'maria'): Promise<string> {
  const r = await sandbox.customer({ from: name, text: 'hi' });
  if (r.status !== 200) throw new Error(`customer failed: ${JSON.stringify(r.body)}`);
  return r.body.igsid as string;
}

export { freePort } from '../support/port.ts';
