import { afterAll, beforeAll, expect, it } from 'vitest';
import { Clock, type SandboxService, startSandboxService, until } from './support.ts';

// A Graph API that does not answer: the sandbox holds the request (30 s in sandbox mode), the
// sender's Graph client gives up after its timeout (IGDM_GRAPH_TIMEOUT_MS, 1 s here) and retries.

const clock = new Clock().running();
let svc: SandboxService;

beforeAll(async () => {
  svc = await startSandboxService({ clock, env: { IGDM_GRAPH_TIMEOUT_MS: '1000' } });
});
afterAll(async () => {
  await svc?.stop();
});

it('a send that times out is retried and sent once', async () => {
  const { igsid } = await svc.customer({ from: 'patient customer', text: 'hi' });
  await svc.inject({ kind: 'timeout', count: 1, path: 'messages' });
  const started = Date.now();
  const r = await svc.send({ to: igsid, content: { type: 'text', text: 'eventually' } });
  expect(r.status).toBe(202);

  await until(
    () => svc.sandbox!.held.size,
    (n) => n === 1,
    'the sandbox holds the send',
    2000,
  );
  expect(await svc.waitOutbox(r.body.id, () => true)).toMatchObject({ status: 'sending', attempts: 1 });
  const row = await svc.waitOutbox(r.body.id, (o) => o.error?.reason === 'timeout', 5_000);
  expect(row).toMatchObject({ status: 'queued', attempts: 1 });
  expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  // The client hung up (the sandbox sees the socket close a moment later).
  await until(
    () => svc.sandbox!.held.size,
    (n) => n === 0,
    'the sandbox lets go of the held request',
    2000,
  );

  clock.advance(60_000); // past the backoff
  svc.sender.wake();
  const sent = await svc.waitMessage(r.body.id);
  const calls = await svc.outbox();
  const body = { recipient: { id: igsid }, messaging_type: 'RESPONSE', message: { text: 'eventually' } };
  expect(calls.map((c) => [c.answer.status, c.failure, c.body])).toEqual([
    [null, 'timeout', body],
    [200, null, body],
  ]);
  expect(sent).toMatchObject({ status: 'sent', mid: calls[1]!.messageId });
  const outbound = (await svc.thread(igsid)).filter((m) => m.direction === 'outbound');
  expect(outbound).toHaveLength(1);
});
