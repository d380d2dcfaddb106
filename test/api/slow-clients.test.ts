import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { sign } from '../../src/meta/signature.ts';
import { freePort, httpRequest, killSpawned, sleep, spawnIgdm } from '../support/http.ts';
import { APP_SECRET, igBody, startTestService, textEvent } from '../support/service.ts';

// Slowloris: clients on raw sockets that open a request and send it a byte at a time, holding their
// connection for as long as they are let. igdm cuts each one off after the request timeout, and
// holds at most IGDM_MAX_CONNECTIONS at once while still admitting Meta and the health probe.

const dirs: string[] = [];
const clients: SlowClient[] = [];
const stopClients = () => {
  for (const c of clients.splice(0)) c.stop();
};
afterEach(stopClients);
afterAll(async () => {
  await killSpawned();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface SlowClient {
  /** What the server answered, if anything. */
  answer(): string;
  open(): boolean;
  /** Resolves once the connection is established (or failed). */
  connected: Promise<void>;
  /** Resolves when the server (or the network) has closed the connection. */
  closed: Promise<void>;
  stop(): void;
}

/**
 * A raw-socket client that sends the start of a request, then one byte every 200 ms: of the body
 * (a POST announcing 1 MB), of the headers, or nothing at all.
 */
function slowClient(url: string, trickle: 'body' | 'headers' | 'nothing'): SlowClient {
  const { port } = new URL(url);
  const socket: Socket = connect(Number(port), '127.0.0.1');
  const chunks: Buffer[] = [];
  let isOpen = true;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      isOpen = false;
      resolve();
    }),
  );
  const connected = new Promise<void>((resolve) => {
    socket.once('connect', () => resolve());
    void closed.then(resolve);
  });
  let timer: NodeJS.Timeout | undefined;
  socket.once('connect', () => {
    if (trickle === 'body') {
      socket.write(
        'POST /webhooks/meta HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          'Content-Length: 1000000\r\n\r\n{',
      );
    } else if (trickle === 'headers') {
      socket.write('POST /webhooks/meta HTTP/1.1\r\nHost: x\r\n');
    }
    if (trickle !== 'nothing') {
      timer = setInterval(() => {
        if (isOpen) socket.write(trickle === 'body' ? ' ' : 'X-Slow: 1\r\n');
      }, 200);
    }
  });
  const client: SlowClient = {
    answer: () => Buffer.concat(chunks).toString('latin1'),
    open: () => isOpen,
    connected,
    closed,
    stop() {
      clearInterval(timer);
      socket.destroy();
    },
  };
  clients.push(client);
  return client;
}

/** Resolves with what `promise` gives, or with `fallback` after `ms` (a bound to detect a hang). */
const within = <T>(promise: Promise<T>, ms: number, fallback: T) =>
  Promise.race([promise, sleep(ms).then(() => fallback)]);

function signedDelivery(url: string) {
  const body = JSON.stringify(igBody([textEvent('9300', 'sent while slow clients wait')]));
  return httpRequest(`${url}/webhooks/meta`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(body, APP_SECRET) },
    body,
    agent: false,
    timeoutMs: 5_000,
  });
}

describe('slow clients', () => {
  it('holds at most IGDM_MAX_CONNECTIONS and still answers the health probe and Meta beyond it', async () => {
    // A host with few file descriptors: without a cap, slow clients take them all and every new
    // connection is reset (EMFILE).
    const dir = mkdtempSync(join(tmpdir(), 'igdm-slow-'));
    dirs.push(dir);
    const cap = 100;
    const igdm = await spawnIgdm(
      dir,
      await freePort(),
      { IGDM_MAX_CONNECTIONS: String(cap) },
      { openFiles: 256 },
    );

    const slow: SlowClient[] = [];
    for (let i = 0; i < 300; i++) {
      slow.push(slowClient(igdm.url, i % 4 === 3 ? 'headers' : 'body'));
      if (i % 50 === 49) await Promise.all(slow.map((c) => c.connected));
    }
    await Promise.all(slow.map((c) => c.connected));

    const health = await httpRequest(`${igdm.url}/healthz`, { agent: false, timeoutMs: 5_000 }).catch(
      (err: Error) => ({ status: err.message }),
    );
    expect(health.status).toBe(200);
    const delivery = await signedDelivery(igdm.url).catch((err: Error) => ({ status: err.message }));
    expect(delivery.status).toBe(200);
    // The connections over the cap were closed (the stalest first), not left to pile up.
    const stillOpen = () => slow.filter((c) => c.open()).length;
    for (let i = 0; i < 100 && stillOpen() > cap; i++) await sleep(50);
    expect(stillOpen()).toBeLessThanOrEqual(cap);
    expect(igdm.output()).toContain('connection cap reached');
  });

  it('cuts off a request whose headers or body trickle in, and a silent connection, after the request timeout', async () => {
    const svc = await startTestService({ IGDM_REQUEST_TIMEOUT_MS: '1000' });
    try {
      const body = slowClient(svc.url, 'body');
      const headers = slowClient(svc.url, 'headers');
      const silent = slowClient(svc.url, 'nothing');
      // Each is cut long before this bound (without timeouts they would hold on for ever).
      for (const client of [body, headers, silent]) {
        expect(
          await within(
            client.closed.then(() => 'closed'),
            10_000,
            'still open',
          ),
        ).toBe('closed');
        expect(client.answer()).toMatch(/^HTTP\/1\.1 408 /);
      }
      expect(JSON.parse(body.answer().split('\r\n\r\n')[1]!)).toEqual({
        error: { code: 'request_timeout', message: expect.any(String) },
      });
      // Meanwhile and afterwards, the service answers as before.
      expect((await signedDelivery(svc.url)).status).toBe(200);
    } finally {
      stopClients(); // before the service stops: it lets requests in progress finish
      await svc.stop();
    }
  });
});
