import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { runSandboxServer, type SandboxServer } from '../../src/sandbox/index.ts';
import { freePort } from '../support/http.ts';
import { ACCOUNT_ID, APP_SECRET, startTestService, type TestService } from '../support/service.ts';
import { sleep, until } from './support.ts';

// Parallel sends. A proxy between igdm and the sandbox answers each Send API call a little late (a
// Graph API across the internet) and counts the calls in flight, overall and per recipient: rows to
// different customers go together, a customer's rows one at a time and in order, and the rate limit
// holds at the sandbox's end with calls in flight.

/** Send API calls in flight at the proxy (profile reads are not counted). */
interface InFlight {
  now: number;
  most: number;
  perRecipient: Map<string, number>;
  /** The most calls in flight at once to any one recipient. */
  mostToOne: number;
}

interface Stack {
  sandbox: SandboxServer;
  proxy: Server;
  svc: TestService;
  flight: InFlight;
}
let stack: Stack | undefined;

afterEach(async () => {
  if (!stack) return;
  // The last echoes first: a webhook delivery still in flight when igdm closes keeps its
  // connection (and so the close) open for Fastify's keep-alive timeout.
  await stack.sandbox.state.delivery.settled();
  await stack.svc.stop();
  await stack.sandbox.close();
  stack.proxy.closeAllConnections();
  await new Promise((resolve) => stack!.proxy.close(resolve));
  stack = undefined;
});

async function start(answerDelayMs: number, env: Record<string, string> = {}): Promise<Stack> {
  const port = await freePort();
  const sandbox = await runSandboxServer({
    port: 0,
    host: '127.0.0.1',
    appSecret: APP_SECRET,
    accessToken: 'test-access-token',
    accountId: ACCOUNT_ID,
    webhookUrl: `http://127.0.0.1:${port}/webhooks/meta`,
    sendRatePerSecond: 100_000,
  });
  const flight: InFlight = { now: 0, most: 0, perRecipient: new Map(), mostToOne: 0 };
  const proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const to = req.url?.endsWith('/messages')
        ? String((JSON.parse(body.toString()) as { recipient?: { id?: string } }).recipient?.id)
        : null;
      if (to) {
        flight.now++;
        flight.most = Math.max(flight.most, flight.now);
        const n = (flight.perRecipient.get(to) ?? 0) + 1;
        flight.perRecipient.set(to, n);
        flight.mostToOne = Math.max(flight.mostToOne, n);
      }
      try {
        const headers = Object.fromEntries(
          Object.entries(req.headers).filter(([k]) => ['authorization', 'content-type'].includes(k)),
        ) as Record<string, string>;
        const answer = await fetch(`${sandbox.url}${req.url}`, {
          method: req.method,
          headers,
          body: body.length ? body : undefined,
        });
        const text = Buffer.from(await answer.arrayBuffer());
        await sleep(answerDelayMs);
        res.writeHead(answer.status, {
          'content-type': answer.headers.get('content-type') ?? 'application/json',
        });
        res.end(text);
      } finally {
        if (to) {
          flight.now--;
          flight.perRecipient.set(to, flight.perRecipient.get(to)! - 1);
        }
      }
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/sandbox/graph`;
  const svc = await startTestService({ PORT: String(port), INSTAGRAM_GRAPH_API_URL: proxyUrl, ...env });
  stack = { sandbox, proxy, svc, flight };
  return stack;
}

/** Customers write (the sandbox delivers to igdm); resolves once igdm has applied them. */
async function customers(s: Stack, n: number): Promise<string[]> {
  const igsids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${s.sandbox.url}/sandbox/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ from: `parallel customer ${i}`, text: 'hi' }),
    });
    igsids.push(((await res.json()) as { igsid: string }).igsid);
  }
  await s.svc.settled();
  return igsids;
}

/** Each customer's replies queued one after another, the customers side by side. */
async function queueReplies(s: Stack, igsids: string[], perCustomer: number): Promise<string[]> {
  const ids: string[][] = await Promise.all(
    igsids.map(async (to, c) => {
      const mine: string[] = [];
      for (let j = 0; j < perCustomer; j++) {
        const res = await s.svc.api('/v1/messages', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ to, content: { type: 'text', text: `c${c} m${j}` } }),
        });
        expect(res.status).toBe(202);
        mine.push(((await res.json()) as { id: string }).id);
      }
      return mine;
    }),
  );
  return ids.flat();
}

const delivered = (s: Stack) => s.sandbox.state.outbox.list().filter((e) => e.answer.status === 200);

/** The most calls any window [t, t + periodMs) holds, t being each call's time. */
function busiestWindow(times: number[], periodMs: number) {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (j < sorted.length && sorted[j]! < sorted[i]! + periodMs) j++;
    most = Math.max(most, j - i);
  }
  return most;
}

it('many customers at once: all sent, in parallel, each customer’s replies one at a time and in order', async () => {
  const CUSTOMERS = 40;
  const EACH = 5;
  const s = await start(40); // each answer 40 ms late: calls overlap when they can
  const igsids = await customers(s, CUSTOMERS);
  const ids = await queueReplies(s, igsids, EACH);
  await until(
    () => delivered(s).length,
    (n) => n === CUSTOMERS * EACH,
    'every reply sent',
    10_000,
  );

  const calls = delivered(s);
  expect(calls).toHaveLength(CUSTOMERS * EACH); // none twice
  for (const [c, igsid] of igsids.entries()) {
    const texts = calls
      .filter((e) => e.recipientId === igsid)
      .map((e) => (e.body as { message: { text: string } }).message.text);
    expect(texts, `customer ${c}`).toEqual(Array.from({ length: EACH }, (_, j) => `c${c} m${j}`));
  }
  expect(s.flight.mostToOne).toBe(1);
  expect(s.flight.most).toBeGreaterThanOrEqual(4);
  expect(s.flight.most).toBeLessThanOrEqual(32); // the default concurrency

  // The sandbox has answered every call; igdm records each answer once it has it (40 ms later here).
  const status = async (id: string) =>
    ((await (await s.svc.api(`/v1/messages/${id}`)).json()) as { status: string }).status;
  for (const id of ids)
    await until(
      () => status(id),
      (st) => st === 'sent',
      `message ${id} sent`,
      5_000,
    );
  for (const id of ids) {
    const m = (await (await s.svc.api(`/v1/messages/${id}`)).json()) as { status: string; mid: string };
    expect(m.status).toBe('sent');
  }
});

it('the rate limit holds with sends in flight: never more than the limit in any 1 s window at the sandbox', async () => {
  const LIMIT = 5;
  const s = await start(150, { IGDM_RATE_SEND_PER_SECOND: String(LIMIT) });
  const igsids = await customers(s, 10);
  await queueReplies(s, igsids, 2);
  const total = igsids.length * 2;
  await until(
    () => delivered(s).length,
    (n) => n === total,
    'every reply sent',
    (total / LIMIT) * 1000 + 3000,
  );
  const times = delivered(s).map((e) => e.time);
  expect(busiestWindow(times, 1000), `call times: ${times.map((t) => t - times[0]!)}`).toBe(LIMIT);
  // Waiting for room, not much slower: 20 calls at 5/s take about 3 s (and the calls did overlap).
  expect(Math.max(...times) - Math.min(...times)).toBeLessThan((total / LIMIT) * 1000 + 500);
  expect(s.flight.most).toBeGreaterThan(1);
  expect(s.sandbox.state.outbox.list()).toHaveLength(total); // none refused, none retried
});
