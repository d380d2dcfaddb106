import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SandboxServer } from '../../src/sandbox/index.ts';
import { freePort, type IgdmProcess, killSpawned, spawnIgdm } from '../support/http.ts';
import { API_KEY, TEST_STORE } from '../support/service.ts';
import { runTestSandbox } from './stack.ts';
import { until } from './support.ts';

// The outbox survives a crash: igdm (a child process) is SIGKILLed while its send hangs at the
// Graph API (a standalone sandbox in this process), and the restarted igdm sends the message once.
// The interrupted send first waits for an echo that never comes (Meta never got it), for a short
// grace here (IGDM_ECHO_GRACE_MS); test/send/reconcile.test.ts has the sends Meta did get.

let dir: string;
let port: number;
let sandbox: SandboxServer;
let env: Record<string, string>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'igdm-send-crash-'));
  port = await freePort();
  sandbox = await runTestSandbox(port, {
    timeoutHoldMs: 60_000, // the send hangs until igdm is killed
  });
  env = { INSTAGRAM_GRAPH_API_URL: sandbox.graphApiUrl, LOG_LEVEL: 'error', IGDM_ECHO_GRACE_MS: '300' };
});
afterAll(async () => {
  await killSpawned();
  await sandbox?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The standalone sandbox's control routes (no API key: it is not igdm's). */
// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
async function control(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${sandbox.url}/sandbox${path}`, {
    method,
    ...(body !== undefined && {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  });
  return { status: res.status, body: await res.json() };
}

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
async function api(igdm: IgdmProcess, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${igdm.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${API_KEY}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

it('a message queued, then SIGKILL while its send hangs: after the restart it is sent exactly once', {
  timeout: 60_000,
}, async () => {
  let igdm = await spawnIgdm(dir, port, env);

  // A customer writes (the sandbox delivers the webhook to the child igdm).
  const wrote = await control('POST', '/messages', { from: 'crash customer', text: 'are you open?' });
  expect(wrote.body.delivered.status).toBe(200);
  const igsid = wrote.body.igsid as string;
  await until(
    async () =>
      (await api(igdm, '/v1/conversations')).body.data as { igsid: string; lastInboundAt: unknown }[],
    (list) => list.some((c) => c.igsid === igsid && c.lastInboundAt !== null),
    'igdm applied the customer message',
  );

  // The send hangs at the Graph API.
  expect((await control('POST', '/failures', { kind: 'timeout', count: 1, path: 'messages' })).status).toBe(
    201,
  );
  const content = { type: 'text', text: 'Yes, until 6 pm' };
  const queued = await api(igdm, '/v1/messages', { to: igsid, content });
  expect(queued.status, JSON.stringify(queued.body)).toBe(202);
  const id = queued.body.id as string;
  await until(
    () => sandbox.state.held.size,
    (n) => n === 1,
    'the send reached the sandbox and hangs',
  );

  igdm.child.kill('SIGKILL');
  expect(await igdm.exited).toMatchObject({ signal: 'SIGKILL' });
  await until(
    () => sandbox.state.held.size,
    (n) => n === 0,
    'the held request is gone',
  );
  expect((await control('DELETE', '/failures')).status).toBe(200); // (the one injected was used up)
  expect(sandbox.state.outbox.list().filter((e) => e.answer.status === 200)).toEqual([]);

  igdm = await spawnIgdm(dir, port, env);
  const sent = await until(
    async () => (await api(igdm, `/v1/messages/${id}`)).body,
    (m) => m.status !== 'queued' && m.status !== 'sending',
    'the message went out after the restart',
    // The embedded queue takes back every job left running at its start; PostgreSQL's, shared by
    // processes, once the dead one's lease (10 s) has run out (docs/queue-on-postgres.md).
    TEST_STORE === 'postgres' ? 25_000 : 5000,
  );
  const body = { recipient: { id: igsid }, messaging_type: 'RESPONSE', message: { text: 'Yes, until 6 pm' } };
  const calls = sandbox.state.outbox.list();
  expect(calls.map((c) => [c.answer.status, c.failure, c.body])).toEqual([
    [null, 'timeout', body],
    [200, null, body],
  ]);
  expect(sent).toMatchObject({ id, status: 'sent', mid: calls[1]!.messageId });

  // The echo arrives and is the same message.
  await sandbox.state.delivery.settled();
  const conversation = (await api(igdm, '/v1/conversations')).body.data.find(
    (c: { igsid: string }) => c.igsid === igsid,
  );
  const outbound = await until(
    async () =>
      (
        (await api(igdm, `/v1/conversations/${conversation.id}/messages`)).body.data as {
          direction: string;
          isEcho: boolean;
          id: string;
        }[]
      ).filter((m) => m.direction === 'outbound'),
    (list) => list.length === 1 && list[0]!.isEcho,
    'the echo applied',
  );
  expect(outbound).toEqual([expect.objectContaining({ id, isEcho: true, status: 'sent' })]);

  // Nothing more goes out later.
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(sandbox.state.outbox.list()).toHaveLength(2);
});
