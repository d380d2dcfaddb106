import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { until } from '../queue/support.ts';
import { conversationOf, DAY_MS, deliver, messageItem, newIgsid } from '../support/conversations.ts';
import { igBody, startTestService, type TestService } from '../support/service.ts';

// Contacts' profiles (src/engine/profiles.ts): asked of Meta when a customer first writes, not
// again on every message that day, and again once a day has passed.

let graph: Server;
/** The customers whose profile was asked, in order. */
const asked: string[] = [];
let svc: TestService;
let now = Date.parse('2026-11-20T10:00:00Z');

beforeAll(async () => {
  graph = createServer((req, res) => {
    const id = new URL(req.url ?? '/', 'http://graph').pathname.split('/').pop() ?? '';
    asked.push(id);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ id, username: `user_${id}`, name: `Name ${id}` }));
  });
  await new Promise<void>((resolve) => graph.listen(0, '127.0.0.1', resolve));
  const { port } = graph.address() as AddressInfo;
  svc = await startTestService({ INSTAGRAM_GRAPH_API_URL: `http://127.0.0.1:${port}` }, undefined, {
    now: () => now,
  });
});

afterAll(async () => {
  await svc?.stop();
  await new Promise((resolve) => graph.close(resolve));
});

const times = (igsid: string) => asked.filter((id) => id === igsid).length;
const write = (igsid: string) => deliver(svc, igBody([messageItem(igsid, now, { text: 'hello' })]));

it('asks a profile when the customer first writes, not again that day, and again after a day', async () => {
  const a = newIgsid();
  await write(a);
  await until(() => times(a) === 1, 'the first profile request');
  // Saved once Meta's answer is back, a moment after the request came.
  await until(async () => (await conversationOf(svc, a))?.contact.username != null, "a's profile saved");
  expect((await conversationOf(svc, a))?.contact).toMatchObject({ username: `user_${a}`, name: `Name ${a}` });

  // Profiles are asked one after another, in the order customers write: once b's is asked, a's
  // second message has been looked at.
  const b = newIgsid();
  await write(a);
  await write(b);
  await until(() => times(b) === 1, "b's profile request");
  expect(times(a)).toBe(1);

  now += DAY_MS + 1000;
  const c = newIgsid();
  await write(a);
  await write(c);
  await until(() => times(c) === 1, "c's profile request");
  expect(times(a)).toBe(2);
});
