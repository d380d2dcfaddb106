import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runSandboxServer, type SandboxServer } from '../../src/sandbox/index.ts';
import { allMessages, conversationOf } from '../support/conversations.ts';
import { freePort } from '../support/http.ts';
import { ACCOUNT_ID, APP_SECRET, startTestService, type TestService } from '../support/service.ts';
import { sleep, until } from './support.ts';

// Meta's echo often arrives before the Send API's answer. Here a proxy between igdm and the sandbox
// holds each answer back, so the echo is applied first (as a message of its own, under its mid) and
// the answer second: there must still be one message, the one the API returned, marked as echoed.

const ANSWER_DELAY_MS = 300;
let sandbox: SandboxServer;
let proxy: Server;
let svc: TestService;

beforeAll(async () => {
  const port = await freePort();
  sandbox = await runSandboxServer({
    port: 0,
    host: '127.0.0.1',
    appSecret: APP_SECRET,
    accessToken: 'test-access-token',
    accountId: ACCOUNT_ID,
    webhookUrl: `http://127.0.0.1:${port}/webhooks/meta`,
  });
  // Forwards to the sandbox's Graph API and answers ANSWER_DELAY_MS after the sandbox did.
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(([k]) => ['authorization', 'content-type'].includes(k)),
      ) as Record<string, string>;
      const answer = await fetch(`${sandbox.url}${req.url}`, {
        method: req.method,
        headers,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
      });
      const body = Buffer.from(await answer.arrayBuffer());
      await sleep(ANSWER_DELAY_MS);
      res.writeHead(answer.status, {
        'content-type': answer.headers.get('content-type') ?? 'application/json',
      });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/sandbox/graph`;
  svc = await startTestService({ PORT: String(port), INSTAGRAM_GRAPH_API_URL: proxyUrl });
});
afterAll(async () => {
  await svc?.stop();
  await sandbox?.close();
  proxy?.closeAllConnections();
  await new Promise((resolve) => proxy?.close(resolve));
});

it("the echo applied before the answer: one message, with Meta's mid, echoed", async () => {
  const wrote = await fetch(`${sandbox.url}/sandbox/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ from: 'racing customer', text: 'quick question' }),
  });
  const { igsid } = (await wrote.json()) as { igsid: string };
  await svc.settled();

  const res = await svc.api('/v1/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ to: igsid, content: { type: 'text', text: 'quick answer' } }),
  });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };

  // The echo is delivered and applied while the answer is still held back.
  await until(
    () => sandbox.state.delivery.log.list().filter((d) => d.kind === 'echo'),
    (echoes) => echoes.length === 1 && echoes[0]!.status === 200,
    'the echo delivered',
  );
  await svc.settled();
  const conversation = (await conversationOf(svc, igsid))!;
  const early = (await allMessages(svc, conversation.id)).filter((m) => m.direction === 'outbound');
  expect((await (await svc.api(`/v1/messages/${id}`)).json()) as { status: string }).toMatchObject({
    status: 'queued',
  });
  // The race did happen: the queued message, and the echo as a row of its own.
  expect(early.map((m) => [m.id === id, m.status, m.isEcho])).toEqual(
    expect.arrayContaining([
      [true, 'queued', false],
      [false, 'sent', true],
    ]),
  );
  expect(early).toHaveLength(2);

  const sent = await until(
    async () => (await (await svc.api(`/v1/messages/${id}`)).json()) as { status: string; mid: string },
    (m) => m.status === 'sent',
    'sent',
  );
  const mid = sandbox.state.outbox.list()[0]!.messageId;
  expect(sent.mid).toBe(mid);
  const outbound = (await allMessages(svc, conversation.id)).filter((m) => m.direction === 'outbound');
  expect(outbound).toEqual([
    expect.objectContaining({ id, mid, isEcho: true, status: 'sent', text: 'quick answer' }),
  ]);
});
