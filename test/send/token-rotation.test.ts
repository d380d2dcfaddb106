import { afterEach, expect, it } from 'vitest';
import { closeStack, customerWrites, restartIgdm, type Stack, startStack, stopIgdm } from './stack.ts';
import { sleep, until } from './support.ts';

// A token Meta refuses holds the channel's sends; a new one set through the API sends them, without
// a restart. The environment's `default` channel is changed the same way: what the API set wins over
// the environment until the environment's value changes.

let stack: Stack | undefined;
afterEach(async () => {
  if (stack) await closeStack(stack);
  stack = undefined;
});

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
type Answer = { status: number; body: any };

async function call(s: Stack, method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await s.svc.api(path, {
    method,
    ...(body !== undefined && {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Meta issues a new token: the sandbox's Graph API takes only that one from now on. */
function metaIssues(s: Stack, token: string) {
  s.sandbox.state.options.accessToken = token;
}

const send = (s: Stack, to: string, text: string) =>
  call(s, 'POST', '/v1/messages', { to, content: { type: 'text', text } });
const messageOf = (s: Stack, id: string) =>
  until(
    async () => (await call(s, 'GET', `/v1/messages/${id}`)).body,
    () => true,
    id,
  );

it('token expired: the channel needs a token and holds its sends; a PATCHed token sends them at once', async () => {
  stack = await startStack();
  const s = stack;
  const igsid = await customerWrites(s, 'patient customer');
  const failing = await fetch(`${s.sandbox.url}/sandbox/failures`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'token_expired', count: 1, path: 'messages' }),
  });
  expect(failing.status).toBe(201);

  const held = await send(s, igsid, 'sorry for the wait');
  expect(held.status).toBe(202);
  await until(
    async () => (await call(s, 'GET', '/v1/channels/default')).body.status,
    (status) => status === 'needs_token',
    'the channel needs a token',
  );
  const later = await send(s, igsid, 'and one more thing');
  await sleep(300);
  expect((await messageOf(s, held.body.id)).status).toBe('queued');
  expect((await messageOf(s, later.body.id)).status).toBe('queued');

  metaIssues(s, 'renewed-access-token');
  const patched = await call(s, 'PATCH', '/v1/channels/default', { accessToken: 'renewed-access-token' });
  expect(patched.status).toBe(200);
  expect(patched.body).toMatchObject({ status: 'ok', secrets: { accessToken: true } });
  expect(JSON.stringify(patched.body)).not.toContain('renewed-access-token');

  for (const id of [held.body.id, later.body.id])
    await until(
      () => messageOf(s, id),
      (m) => m.status === 'sent',
      `${id} sent`,
    );
  const calls = s.sandbox.state.outbox.list().map((e) => [e.answer.status, e.failure]);
  expect(calls).toEqual([
    [400, 'token_expired'],
    [200, null],
    [200, null],
  ]);
  // Stored too: a restart finds the channel ok.
  const stored = await s.svc.store.db
    .selectFrom('channels')
    .select('status')
    .where('id', '=', 'default')
    .executeTakeFirstOrThrow();
  expect(stored.status).toBe('ok');
});

it("the environment's channel: a PATCHed token survives a restart while the environment is unchanged; a changed environment wins", async () => {
  stack = await startStack();
  const s = stack;
  const igsid = await customerWrites(s, 'loyal customer');
  metaIssues(s, 'token-from-the-api');
  const patched = await call(s, 'PATCH', '/v1/channels/default', {
    accessToken: 'token-from-the-api',
    name: 'Main shop',
  });
  expect(patched.status).toBe(200);

  await stopIgdm(s);
  await restartIgdm(s);
  expect((await call(s, 'GET', '/v1/channels/default')).body).toMatchObject({
    name: 'Main shop',
    status: 'ok',
  });
  const first = await send(s, igsid, 'sent with the token set through the API');
  await until(
    () => messageOf(s, first.body.id),
    (m) => m.status === 'sent',
    'sent with the API token',
  );

  // The operator sets a new token in the environment: it wins; the name (not in the environment) stays.
  await stopIgdm(s);
  s.env.INSTAGRAM_ACCESS_TOKEN = 'token-from-the-environment';
  metaIssues(s, 'token-from-the-environment');
  await restartIgdm(s);
  expect((await call(s, 'GET', '/v1/channels/default')).body).toMatchObject({ name: 'Main shop' });
  const second = await send(s, igsid, 'sent with the environment token');
  await until(
    () => messageOf(s, second.body.id),
    (m) => m.status === 'sent',
    'sent with the environment token',
  );
  expect(s.sandbox.state.outbox.list().map((e) => e.answer.status)).toEqual([200, 200]);
});
