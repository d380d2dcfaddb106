import { afterEach, describe, expect, it, vi } from 'vitest';
import { Clock, delivered, type SandboxService, startSandboxService, until } from './support.ts';

// Failure classes, each injected into the sandbox's Graph API: retried (5xx, with backoff, behind
// a circuit breaker), throttled (the channel waits as long as Meta says), token expired (the channel
// stops until it has a new token), blocked for policy (paused), outside the window (given up).
// A fresh service per test: health and holds belong to the channel.

let svc: SandboxService | undefined;
afterEach(async () => {
  await svc?.stop();
  svc = undefined;
});

/** A service on a running clock that the test can move forward, and a customer who just wrote. */
async function setup() {
  const clock = new Clock().running();
  svc = await startSandboxService({ clock });
  const { igsid } = await svc.customer({ from: 'failing customer', text: 'hi' });
  return { svc, clock, igsid };
}

/** The texts the customer was sent, in the order they reached the Send API. */
const textsTo = async (s: SandboxService, igsid: string) =>
  delivered(await s.outbox())
    .filter((e) => e.recipientId === igsid)
    .map((e) => (e.body as { message?: { text?: string } }).message?.text);

const health = async (s: SandboxService) => (await s.json('/v1/channels/default')).body.status as string;
/** The channel's health in the store: written with the outcome that changed it, so read without waiting. */
const storedHealth = async (s: SandboxService) =>
  (
    await s.store.db
      .selectFrom('channels')
      .select('status')
      .where('id', '=', 'default')
      .executeTakeFirstOrThrow()
  ).status;
const attempts = async (s: SandboxService) =>
  (await s.outbox()).map((e) => [e.answer.status, e.failure] as [number | null, string | null]);

/**
 * setTimeout calls made while the test waits `ms` doing nothing: a sender with nothing it may send
 * sleeps (it used to poll the store every 10 ms while a channel was held or needed a token). On
 * PostgreSQL pg's pool sets a timer for each connection a query gives back (its idle timeout), for
 * whatever queries (the projection looks every 500 ms): those are not counted.
 */
async function timersWhileIdle(ms: number) {
  // The second look skip() asks for comes first (each look at a waiting send sets the queue's timer).
  await new Promise((resolve) => setTimeout(resolve, 100));
  const setTimer = globalThis.setTimeout;
  let counted = 0;
  const timers = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((
    ...args: Parameters<typeof setTimeout>
  ) => {
    if (!new Error().stack?.includes('pg-pool')) counted++;
    return setTimer(...args);
  }) as typeof setTimeout);
  try {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return counted - 1;
  } finally {
    timers.mockRestore();
  }
}

/** Skips the backoff or hold: the clock jumps, and the sender looks at the outbox again. */
async function skip(s: SandboxService, clock: Clock, ms: number) {
  clock.advance(ms);
  s.sender.wake();
  // The row shows `queued` again as soon as its retry is committed, while its job may still be
  // running (the queue records its retry after): a wake then does not make it due, and the sender
  // would next look when its backoff timer fires, in real time. So once more, when no send runs.
  await until(
    () =>
      s.store.db
        .selectFrom('jobs')
        .select('id')
        .where('queue', '=', 'send')
        .where('status', '=', 'active')
        .execute(),
    (active) => active.length === 0,
    'no send running',
  );
  s.sender.wake();
}

describe('5xx', () => {
  it('×2 then success: sent exactly once, after 2 failed attempts (real backoff timers)', async () => {
    const { svc, igsid } = await setup();
    await svc.inject({ kind: '5xx', count: 2, path: 'messages' });
    const r = await svc.send({ to: igsid, content: { type: 'text', text: 'third time lucky' } });
    expect(r.status).toBe(202);
    const sent = await svc.waitMessage(r.body.id, undefined, 6000); // backoff ≈ 1 s + 2 s (±25 %)
    const calls = await svc.outbox();
    expect(calls.map((c) => [c.answer.status, c.failure])).toEqual([
      [500, '5xx'],
      [500, '5xx'],
      [200, null],
    ]);
    const body = {
      recipient: { id: igsid },
      messaging_type: 'RESPONSE',
      message: { text: 'third time lucky' },
    };
    expect(calls.map((c) => c.body)).toEqual([body, body, body]);
    expect(sent).toMatchObject({ status: 'sent', mid: calls[2]!.messageId, error: null });
    expect(await svc.waitOutbox(r.body.id, () => true)).toMatchObject({ status: 'sent', attempts: 3 });
    const thread = await svc.thread(igsid);
    expect(thread.filter((m) => m.direction === 'outbound')).toEqual([
      expect.objectContaining({ id: r.body.id, isEcho: true, text: 'third time lucky' }),
    ]);
    expect(await health(svc)).toBe('ok');
  });

  it('a message queued while an earlier one to the customer waits for its retry goes after it', async () => {
    const { svc, clock, igsid } = await setup();
    await svc.inject({ kind: '5xx', count: 1, path: 'messages' });
    const a = await svc.send({ to: igsid, content: { type: 'text', text: 'A' } });
    await svc.waitOutbox(a.body.id, (o) => o.status === 'queued' && o.attempts === 1);
    const b = await svc.send({ to: igsid, content: { type: 'text', text: 'B' } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await textsTo(svc, igsid)).toEqual([]); // B waits behind A's retry

    await skip(svc, clock, 60_000);
    await svc.waitMessage(a.body.id);
    await svc.waitMessage(b.body.id);
    expect(await textsTo(svc, igsid)).toEqual(['A', 'B']);
  });

  it('a bare 5xx (no body) is retried the same way', async () => {
    const { svc, clock, igsid } = await setup();
    await svc.inject({ kind: '5xx', count: 1, status: 503, empty: true, path: 'messages' });
    const r = await svc.send({ to: igsid, content: { type: 'text', text: 'hello' } });
    await svc.waitOutbox(r.body.id, (o) => o.error?.reason === 'server_error' && o.status === 'queued');
    await skip(svc, clock, 60_000);
    expect(await svc.waitMessage(r.body.id)).toMatchObject({ status: 'sent' });
    expect(await attempts(svc)).toEqual([
      [503, '5xx'],
      [200, null],
    ]);
  });

  it('the circuit breaker: after 5 failures in a row the channel is left alone for 30 s', async () => {
    const { svc, clock, igsid } = await setup();
    await svc.inject({ kind: '5xx', count: 5, path: 'messages' });
    const r = await svc.send({ to: igsid, content: { type: 'text', text: 'patience' } });
    for (let n = 1; n <= 5; n++) {
      await svc.waitOutbox(r.body.id, (o) => o.attempts === n && o.status === 'queued');
      if (n < 5) await skip(svc, clock, 20_000); // past the backoff (at most 1.25 × 8 s before the 5th try)
    }
    // The 5th backoff is 12–20 s; the breaker holds for 30 s.
    await skip(svc, clock, 21_000);
    expect(await timersWhileIdle(300)).toBeLessThan(5);
    expect(await attempts(svc)).toHaveLength(5);
    expect((await svc.json(`/v1/messages/${r.body.id}`)).body.status).toBe('queued');
    await skip(svc, clock, 10_000);
    expect(await svc.waitMessage(r.body.id)).toMatchObject({ status: 'sent' });
    expect((await attempts(svc)).map(([status]) => status)).toEqual([500, 500, 500, 500, 500, 200]);
  });

  it('gives up after 8 attempts: failed with the last error', async () => {
    const { svc, clock, igsid } = await setup();
    await svc.inject({ kind: '5xx', count: 8, path: 'messages' });
    const r = await svc.send({ to: igsid, content: { type: 'text', text: 'never' } });
    for (let n = 1; n < 8; n++) {
      await svc.waitOutbox(r.body.id, (o) => o.attempts === n && o.status === 'queued');
      await skip(svc, clock, 10 * 60_000);
    }
    const failed = await svc.waitMessage(r.body.id, (m) => m.status !== 'queued');
    expect(failed).toMatchObject({ status: 'failed', mid: null, error: { reason: 'transient', code: 2 } });
    expect(await attempts(svc)).toHaveLength(8);
    expect(delivered(await svc.outbox())).toEqual([]);
  });
});

describe('throttle', () => {
  it('the channel shows `throttled`, waits as long as Meta says, then sends and is `ok` again', async () => {
    const { svc, clock, igsid } = await setup();
    await svc.inject({ kind: 'throttle', count: 1, path: 'messages' }); // estimated_time_to_regain_access: 1 min
    const r = await svc.send({ to: igsid, content: { type: 'text', text: 'slow down' } });
    await svc.waitOutbox(r.body.id, (o) => o.error?.reason === 'rate_limited');
    expect(await health(svc)).toBe('throttled');
    expect(await storedHealth(svc)).toBe('throttled');
    const second = await svc.send({ to: igsid, content: { type: 'text', text: 'queued behind it' } });
    expect(second.status).toBe(202);

    await skip(svc, clock, 50_000); // not yet
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await attempts(svc)).toEqual([[400, 'throttle']]);
    expect(await health(svc)).toBe('throttled');

    await skip(svc, clock, 11_000);
    expect(await svc.waitMessage(r.body.id)).toMatchObject({ status: 'sent' });
    expect(await storedHealth(svc)).toBe('ok'); // recorded with the send
    expect(await svc.waitMessage(second.body.id)).toMatchObject({ status: 'sent' });
    // The health follows the send's record (it may show a moment before).
    await until(
      () => health(svc),
      (h) => h === 'ok',
      'the channel is ok again',
    );
    expect(await attempts(svc)).toEqual([
      [400, 'throttle'],
      [200, null],
      [200, null],
    ]);
    // A throttled try does not count as an attempt.
    expect(await svc.waitOutbox(r.body.id, () => true)).toMatchObject({ attempts: 1 });
  });

  it('what is queued for others meanwhile goes once the hold is over, in order', async () => {
    const { svc, clock, igsid } = await setup();
    const { igsid: other } = await svc.customer({ from: 'another customer', text: 'hello' });
    await svc.inject({ kind: 'throttle', count: 1, path: 'messages' });
    const held = await svc.send({ to: igsid, content: { type: 'text', text: 'slow down' } });
    await svc.waitOutbox(held.body.id, (o) => o.error?.reason === 'rate_limited');
    const b = await svc.send({ to: other, content: { type: 'text', text: 'B' } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await textsTo(svc, other)).toEqual([]);

    // C is queued behind B; then the hold is over.
    const c = await svc.send({ to: other, content: { type: 'text', text: 'C' } });
    await skip(svc, clock, 61_000);
    await svc.waitMessage(b.body.id);
    await svc.waitMessage(c.body.id);
    expect(await textsTo(svc, other)).toEqual(['B', 'C']);
    await svc.waitMessage(held.body.id);
  });
});

describe('token expired (190)', () => {
  it('the channel needs a token; the message stays queued and nothing more reaches Meta', async () => {
    const { svc, clock, igsid } = await setup();
    await svc.inject({ kind: 'token_expired', count: 1, path: 'messages' });
    const r = await svc.send({ to: igsid, content: { type: 'text', text: 'hello?' } });
    await svc.waitOutbox(r.body.id, (o) => o.error?.reason === 'token_expired');
    expect(await health(svc)).toBe('needs_token');
    expect(await storedHealth(svc)).toBe('needs_token');

    const more = await svc.send({ to: igsid, content: { type: 'text', text: 'and this' } });
    expect(more.status).toBe(202);
    const typing = await svc.send({ to: igsid, content: { type: 'typing' } });
    expect(typing.status).toBe(202);

    expect(await timersWhileIdle(300)).toBeLessThan(5);

    await skip(svc, clock, 60 * 60_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await attempts(svc)).toEqual([[400, 'token_expired']]);
    for (const id of [r.body.id, more.body.id, typing.body.id])
      expect((await svc.json(`/v1/messages/${id}`)).body.status).toBe('queued');
    expect(await svc.waitOutbox(r.body.id, () => true)).toMatchObject({
      status: 'queued',
      attempts: 0,
      error: { reason: 'token_expired', code: 190, subcode: 463 },
    });
    expect(await health(svc)).toBe('needs_token');
  });
});

describe('policy block (368)', () => {
  it('the channel is paused and the message failed', async () => {
    const { svc, clock, igsid } = await setup();
    await svc.inject({ kind: 'policy_block', count: 1, path: 'messages' });
    const r = await svc.send({ to: igsid, content: { type: 'text', text: 'buy now!!!' } });
    const failed = await svc.waitMessage(r.body.id, (m) => m.status !== 'queued');
    expect(failed).toMatchObject({ status: 'failed', error: { reason: 'policy_block', code: 368 } });
    expect(await health(svc)).toBe('paused');
    expect(await storedHealth(svc)).toBe('paused');

    // Paused: a later message waits instead of going out.
    const later = await svc.send({ to: igsid, content: { type: 'text', text: 'later' } });
    expect(later.status).toBe(202);
    expect(await timersWhileIdle(300)).toBeLessThan(5);
    expect((await svc.json(`/v1/messages/${later.body.id}`)).body.status).toBe('queued');
    expect(await attempts(svc)).toEqual([[400, 'policy_block']]);

    // The pause lasts an hour; then sending resumes and the channel is `ok` again.
    await skip(svc, clock, 61 * 60_000);
    expect(await svc.waitMessage(later.body.id)).toMatchObject({ status: 'sent' });
    await until(
      () => health(svc),
      (h) => h === 'ok',
      'the channel is ok again',
    );
  });
});

describe('outside the window, from Meta (10/2534022)', () => {
  it('failed with reason outside_window, never retried', async () => {
    const { svc, clock, igsid } = await setup();
    await svc.inject({ kind: 'outside_window', count: 1, path: 'messages' });
    const r = await svc.send({ to: igsid, content: { type: 'text', text: 'are you there?' } });
    const failed = await svc.waitMessage(r.body.id, (m) => m.status !== 'queued');
    expect(failed).toMatchObject({
      status: 'failed',
      mid: null,
      error: { reason: 'outside_window', code: 10, subcode: 2534022 },
    });
    await skip(svc, clock, 60 * 60_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await attempts(svc)).toEqual([[400, 'outside_window']]);
    expect(await svc.waitOutbox(r.body.id, () => true)).toMatchObject({ status: 'failed', attempts: 1 });
    expect(await health(svc)).toBe('ok');
    const thread = await svc.thread(igsid);
    expect(thread.filter((m) => m.direction === 'outbound')).toEqual([
      expect.objectContaining({ id: r.body.id, status: 'failed', isEcho: false }),
    ]);
  });

  it('a sender action Meta refuses fails too (GET /v1/messages/out_... shows why)', async () => {
    const { svc, igsid } = await setup();
    await svc.inject({ kind: 'outside_window', count: 1, path: 'messages' });
    const r = await svc.send({ to: igsid, content: { type: 'mark_seen' } });
    const failed = await until(
      async () => (await svc.json(`/v1/messages/${r.body.id}`)).body,
      (m) => m.status !== 'queued' && m.status !== 'sending',
      'the action failed',
    );
    expect(failed).toEqual({
      id: r.body.id,
      type: 'mark_seen',
      status: 'failed',
      error: expect.objectContaining({ reason: 'outside_window', code: 10 }),
    });
  });
});
