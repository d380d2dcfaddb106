import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ACCOUNT,
  Clock,
  type Gateway,
  type Sandbox,
  startGateway,
  startSandbox,
  TOKEN,
  writtenCustomer,
} from './support.ts';

// Failure injection: the next n Graph calls (or n send calls) fail the way Meta or the network
// fails, then calls succeed again.

let gateway: Gateway;
let sandbox: Sandbox;
let igsid: string;
const clock = new Clock();

beforeAll(async () => {
  gateway = await startGateway();
  sandbox = await startSandbox(gateway, { now: clock.now, timeoutHoldMs: 400 });
  igsid = await writtenCustomer(sandbox);
});
afterAll(async () => {
  await sandbox.close();
  await gateway.close();
});
beforeEach(async () => {
  await sandbox.control('DELETE', '/failures');
});

const inject = async (failure: Record<string, unknown>) => {
  const r = await sandbox.control('POST', '/failures', failure);
  expect(r.status).toBe(201);
  return r.body;
};
const text = () =>
  sandbox.graph('POST', 'me/messages', { body: { recipient: { id: igsid }, message: { text: 'x' } } });

describe('each kind fails `count` calls, then calls succeed', () => {
  const CASES: [string, Record<string, unknown>, number, Record<string, unknown>][] = [
    ['5xx', {}, 500, { code: 2, is_transient: true, type: 'OAuthException' }],
    ['5xx', { status: 503 }, 503, { code: 2, is_transient: true }],
    ['throttle', {}, 400, { code: 613, error_subcode: 2534040, is_transient: true }],
    ['token_expired', {}, 400, { code: 190, error_subcode: 463 }],
    ['outside_window', {}, 400, { code: 10, error_subcode: 2534022 }],
    ['policy_block', {}, 400, { code: 368 }],
  ];
  it.each(CASES)('%s %j', async (kind, extra, status, error) => {
    await inject({ kind, count: 2, ...extra });
    for (let i = 0; i < 2; i++) {
      const r = await text();
      expect(r.status).toBe(status);
      expect(r.body.error).toMatchObject({ ...error, fbtrace_id: expect.any(String) });
      expect(r.headers.get('x-app-usage')).toBeTruthy();
    }
    expect((await text()).status).toBe(200);
  });

  it('5xx with an empty body', async () => {
    await inject({ kind: '5xx', count: 1, empty: true });
    const r = await text();
    expect(r.status).toBe(500);
    expect(r.raw).toBe('');
    expect((await text()).status).toBe(200);
  });

  it('throttle says when access returns', async () => {
    await inject({ kind: 'throttle', regainAccessMinutes: 3 });
    const r = await text();
    expect(JSON.parse(r.headers.get('x-business-use-case-usage')!)[ACCOUNT][0]).toMatchObject({
      type: 'instagram',
      estimated_time_to_regain_access: 3,
    });
  });

  it('network_reset drops the connection without an answer', async () => {
    await inject({ kind: 'network_reset', count: 2 });
    await expect(text()).rejects.toThrow();
    await expect(text()).rejects.toThrow();
    expect((await text()).status).toBe(200);
  });

  it('timeout holds the request past the client timeout, then answers 504', async () => {
    await inject({ kind: 'timeout', count: 1 });
    const started = Date.now();
    const held = fetch(`${sandbox.graphApiUrl}/v24.0/me/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer x' },
      body: '{}',
      signal: AbortSignal.timeout(100),
    });
    await expect(held).rejects.toThrow(/timeout|aborted/i);
    expect(Date.now() - started).toBeLessThan(400);
    // A client that waits longer gets a 504 once the hold is over.
    await inject({ kind: 'timeout', count: 1 });
    const waited = await text();
    expect(waited.status).toBe(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect((await text()).status).toBe(200);
    expect(sandbox.state.held.size).toBe(0);
  });
});

describe('after delivery: the message is sent (and echoed), only its answer is spoiled', () => {
  const known = () => sandbox.state.messages.size;
  const echoes = () =>
    gateway.received.filter((r) => JSON.stringify(r.json).includes('"is_echo":true')).length;
  const rawText = async () => {
    const res = await fetch(`${sandbox.graphApiUrl}/v24.0/me/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ recipient: { id: igsid }, message: { text: 'x' } }),
    });
    return { status: res.status, raw: await res.text() };
  };

  it.each([
    ['empty', ''],
    ['truncated', '{"recipient_id":"'],
    ['html', '<html>'],
  ])('garbled_answer %s: HTTP 200 with a body that is no answer', async (garble, start) => {
    const before = known();
    await inject({ kind: 'garbled_answer', garble });
    const r = await rawText();
    expect(r.status).toBe(200);
    expect(r.raw.startsWith(start)).toBe(true);
    expect(r.raw).not.toMatch(/message_id/);
    expect(known()).toBe(before + 1);
  });

  it('late_answer: the real answer, after delayMs', async () => {
    await inject({ kind: 'late_answer', delayMs: 300 });
    const started = Date.now();
    const r = await text();
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(r.body).toMatchObject({ recipient_id: igsid, message_id: expect.any(String) });
  });

  it('huge_answer: the real answer inside sizeBytes of padding', async () => {
    await inject({ kind: 'huge_answer', sizeBytes: 200_000 });
    const r = await text();
    expect(r.raw.length).toBe(200_000);
    expect(r.body).toMatchObject({ message_id: expect.any(String) });
    const call = sandbox.state.calls.list().at(-1)!;
    expect(call).toMatchObject({ failure: 'huge_answer', answer: { bytes: 200_000, cut: false } });
  });

  it('cut_answer: the connection is cut, the message was sent', async () => {
    const before = known();
    await inject({ kind: 'cut_answer' });
    await expect(rawText()).rejects.toThrow();
    expect(known()).toBe(before + 1);
  });

  it('echo: false loses the echo webhook; by default it comes', async () => {
    const base = echoes();
    await inject({ kind: 'late_answer', delayMs: 0, echo: false });
    await text();
    await inject({ kind: 'late_answer', delayMs: 0 });
    await text();
    await sandbox.state.delivery.settled();
    expect(echoes()).toBe(base + 1);
  });
});

describe('scope and bookkeeping', () => {
  it('path "messages" fails only send calls; others go through', async () => {
    await inject({ kind: 'token_expired', count: 1, path: 'messages' });
    expect((await sandbox.graph('GET', igsid, { query: { fields: 'name' } })).status).toBe(200);
    expect((await text()).body.error.code).toBe(190);
    expect((await text()).status).toBe(200);
  });

  it('without a path, any Graph call fails', async () => {
    await inject({ kind: '5xx', count: 1 });
    expect((await sandbox.graph('GET', 'me')).status).toBe(500);
    expect((await sandbox.graph('GET', 'me')).status).toBe(200);
  });

  it('failures queue in order; GET lists what is pending, DELETE clears', async () => {
    const a = await inject({ kind: 'throttle', count: 2, path: 'messages' });
    await inject({ kind: 'policy_block', count: 1 });
    expect(a).toEqual({ id: expect.any(Number), kind: 'throttle', remaining: 2, path: 'messages' });
    expect((await text()).body.error.code).toBe(613);
    const pending = await sandbox.control('GET', '/failures');
    expect(pending.body.data).toEqual([
      expect.objectContaining({ kind: 'throttle', remaining: 1 }),
      expect.objectContaining({ kind: 'policy_block', remaining: 1, path: null }),
    ]);
    expect((await sandbox.control('DELETE', '/failures')).body).toEqual({ cleared: 2 });
    expect((await text()).status).toBe(200);
  });

  it('the outbox records failed sends with the failure', async () => {
    await sandbox.control('DELETE', '/outbox');
    await inject({ kind: 'network_reset', count: 1 });
    await inject({ kind: 'throttle', count: 1 });
    await text().catch(() => undefined);
    await text();
    const outbox = (await sandbox.control('GET', '/outbox')).body.data;
    expect(
      outbox.map((e: { failure: string; answer: { status: number } }) => [e.failure, e.answer.status]),
    ).toEqual([
      ['network_reset', null],
      ['throttle', 400],
    ]);
  });

  it.each([
    [{ kind: 'meteor' }, /kind/],
    [{ kind: '5xx', count: 0 }, /count/],
    [{ kind: '5xx', path: 'Messages!' }, /path/],
    [{ kind: '5xx', extra: true }, /extra/],
  ])('%j is a 400', async (body, reason) => {
    const r = await sandbox.control('POST', '/failures', body);
    expect(r.status).toBe(400);
    expect(r.body.error.message).toMatch(reason);
  });
});

describe('closing', () => {
  it('a held request is cut when the server closes, without waiting for the hold', async () => {
    const own = await startSandbox(gateway, { now: clock.now });
    await own.control('POST', '/failures', { kind: 'timeout', count: 1 });
    const held = fetch(`${own.graphApiUrl}/v24.0/me`, { headers: { authorization: 'Bearer x' } });
    held.catch(() => undefined);
    while (own.state.held.size === 0) await new Promise((r) => setTimeout(r, 5));
    const started = Date.now();
    await own.close();
    expect(Date.now() - started).toBeLessThan(2000);
    await expect(held).rejects.toThrow();
  });
});
