import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clock, DAY, delivered, HOUR, type SandboxService, START, startSandboxService } from './support.ts';

// Instagram's messaging policy with a moved clock (the service's and the sandbox's): no cold
// outreach, 24 h for the business, 7 days for a human agent with the HUMAN_AGENT tag, and the
// policy checked again when a message waited in the outbox.

const clock = new Clock();
let svc: SandboxService;
let customers = 0;

beforeAll(async () => {
  svc = await startSandboxService({ clock });
});
afterAll(async () => {
  await svc?.stop();
});

/**
 * A fresh start time for a test, later than anything before: the clock only moves forward, as a
 * real one does (the sender's holds are in service time).
 */
let START_OF_TEST = START;
const nextStart = () => {
  START_OF_TEST = Math.max(START_OF_TEST, clock.now()) + 30 * DAY;
  clock.set(START_OF_TEST);
  return START_OF_TEST;
};

/** A customer who writes at `at` (service and sandbox time). */
async function wroteAt(at: number) {
  clock.set(at);
  return svc.customer({ from: `policy customer ${++customers}`, text: 'hello' });
}

const text = (igsid: string, t: string, extra: Record<string, unknown> = {}) =>
  svc.send({ to: igsid, content: { type: 'text', text: t }, ...extra });

const callsTo = async (igsid: string) => (await svc.outbox()).filter((e) => e.recipientId === igsid);

async function refusedWith(r: { status: number; body: { error: { code: string } } }, code: string) {
  expect(r.status, JSON.stringify(r.body)).toBe(422);
  expect(r.body.error).toEqual({ code, message: expect.any(String) });
}

describe('no cold outreach', () => {
  it('422 never_messaged for an IGSID that never wrote; nothing queued or sent', async () => {
    nextStart();
    const before = await svc.counts();
    const calls = (await svc.outbox()).length;
    await refusedWith(await text('17800000000000042', 'Hi, want a discount?'), 'never_messaged');
    await refusedWith(await text('17800000000000042', 'Hi', { humanAgent: true }), 'never_messaged');
    await refusedWith(
      await svc.send({ to: '17800000000000042', content: { type: 'typing' } }),
      'never_messaged',
    );
    expect(await svc.counts()).toEqual(before);
    expect(await svc.outbox()).toHaveLength(calls);
  });

  it('a customer the sandbox knows only by a comment has not messaged', async () => {
    nextStart();
    const r = await svc.json('/sandbox/messages', {
      body: { from: 'commenter only', comment: { text: 'nice post' } },
    });
    expect(r.status).toBe(200);
    await svc.settled();
    await refusedWith(await text(r.body.igsid, 'thanks!'), 'never_messaged');
  });
});

describe('the 24-hour window', () => {
  it('a bot reply at 23:59:59 goes; at 24:00:00 it is refused with outside_window', async () => {
    const T0 = nextStart();
    const { igsid } = await wroteAt(T0);
    clock.set(T0 + DAY - 1000);
    const ok = await text(igsid, 'just in time');
    expect(ok.status, JSON.stringify(ok.body)).toBe(202);
    expect(await svc.waitMessage(ok.body.id)).toMatchObject({ status: 'sent' });
    expect((await callsTo(igsid)).map((c) => c.body)).toEqual([
      { recipient: { id: igsid }, messaging_type: 'RESPONSE', message: { text: 'just in time' } },
    ]);

    clock.set(T0 + DAY);
    const before = await svc.counts();
    await refusedWith(await text(igsid, 'too late'), 'outside_window');
    await refusedWith(await svc.send({ to: igsid, content: { type: 'mark_seen' } }), 'outside_window');
    expect(await svc.counts()).toEqual(before);
    expect(await callsTo(igsid)).toHaveLength(1);
  });

  it('a new message from the customer opens the window again', async () => {
    const T0 = nextStart();
    const { igsid } = await wroteAt(T0);
    clock.set(T0 + 2 * DAY);
    await refusedWith(await text(igsid, 'late'), 'outside_window');
    await svc.customer({ from: igsid, text: 'still there?' });
    const r = await text(igsid, 'yes!');
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(await svc.waitMessage(r.body.id)).toMatchObject({ status: 'sent' });
  });

  it('humanAgent inside the window is a plain RESPONSE (no tag)', async () => {
    const T0 = nextStart();
    const { igsid } = await wroteAt(T0);
    clock.set(T0 + HOUR);
    const r = await text(igsid, 'an agent here', { humanAgent: true });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    await svc.waitMessage(r.body.id);
    expect((await callsTo(igsid)).map((c) => c.body)).toEqual([
      { recipient: { id: igsid }, messaging_type: 'RESPONSE', message: { text: 'an agent here' } },
    ]);
  });
});

describe('HUMAN_AGENT: a human may answer up to 7 days', () => {
  it('at 24 h and at 7 d − 1 ms it goes out tagged; at 7 d it is refused', async () => {
    const T0 = nextStart();
    const { igsid } = await wroteAt(T0);
    const tagged = (t: string) => ({
      recipient: { id: igsid },
      messaging_type: 'MESSAGE_TAG',
      tag: 'HUMAN_AGENT',
      message: { text: t },
    });

    clock.set(T0 + DAY);
    await refusedWith(await text(igsid, 'bot at 24 h'), 'outside_window');
    const at24h = await text(igsid, 'agent at 24 h', { humanAgent: true });
    expect(at24h.status, JSON.stringify(at24h.body)).toBe(202);
    expect(await svc.waitMessage(at24h.body.id)).toMatchObject({ status: 'sent', mid: expect.any(String) });

    clock.set(T0 + 7 * DAY - 1);
    const last = await text(igsid, 'agent at 7 d - 1 ms', { humanAgent: true });
    expect(last.status, JSON.stringify(last.body)).toBe(202);
    expect(await svc.waitMessage(last.body.id)).toMatchObject({ status: 'sent' });

    const calls = await callsTo(igsid);
    expect(calls.map((c) => c.body)).toEqual([tagged('agent at 24 h'), tagged('agent at 7 d - 1 ms')]);
    expect(calls.map((c) => c.answer.status)).toEqual([200, 200]);

    clock.set(T0 + 7 * DAY);
    const before = await svc.counts();
    await refusedWith(await text(igsid, 'agent at 7 d', { humanAgent: true }), 'outside_human_agent_window');
    // A sender action is never tagged: outside 24 h it cannot go, human or not.
    clock.set(T0 + 2 * DAY);
    await refusedWith(
      await svc.send({ to: igsid, content: { type: 'typing' }, humanAgent: true }),
      'outside_window',
    );
    expect(await svc.counts()).toEqual(before);
    expect(await callsTo(igsid)).toHaveLength(2);
  });
});

describe('the policy is checked again when the message is sent', () => {
  it('a message queued inside the window, held back by a throttle past it, fails outside_window without reaching Meta', async () => {
    const T0 = nextStart();
    const a = await wroteAt(T0);
    const b = await wroteAt(T0 + DAY - 2 * 60_000);
    clock.set(T0 + DAY - 60_000);

    // B's message is throttled: the channel waits 60 s (the sandbox says 1 minute).
    await svc.inject({ kind: 'throttle', count: 1, path: 'messages' });
    const toB = await text(b.igsid, 'for B');
    expect(toB.status).toBe(202);
    await svc.waitOutbox(toB.body.id, (o) => o.error?.reason === 'rate_limited');
    expect((await svc.json('/v1/channels/default')).body.status).toBe('throttled');

    // A's message is queued 1 min before A's window closes, and waits behind the throttle.
    const toA = await text(a.igsid, 'for A');
    expect(toA.status, JSON.stringify(toA.body)).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await svc.json(`/v1/messages/${toA.body.id}`)).body.status).toBe('queued');

    clock.set(T0 + DAY + 1000); // the throttle is over; A's window closed 1 s ago
    svc.sender.wake();
    const failed = await svc.waitMessage(toA.body.id, (m) => m.status !== 'queued');
    expect(failed).toMatchObject({ status: 'failed', mid: null, error: { reason: 'outside_window' } });
    expect(await svc.waitMessage(toB.body.id)).toMatchObject({ status: 'sent' });
    expect(await callsTo(a.igsid)).toEqual([]);
    expect(delivered(await callsTo(b.igsid)).map((c) => c.body)).toEqual([
      { recipient: { id: b.igsid }, messaging_type: 'RESPONSE', message: { text: 'for B' } },
    ]);
  });

  it('a bot message retried after a 5xx, once the window has closed, fails outside_window', async () => {
    const T0 = nextStart();
    const { igsid } = await wroteAt(T0);
    clock.set(T0 + DAY - 1000);
    await svc.inject({ kind: '5xx', count: 1, path: 'messages' });
    const r = await text(igsid, 'retried too late');
    expect(r.status).toBe(202);
    await svc.waitOutbox(r.body.id, (o) => o.error?.reason === 'transient');

    clock.set(T0 + DAY + 10 * 60_000); // past any backoff, and past the window
    svc.sender.wake();
    const failed = await svc.waitMessage(r.body.id, (m) => m.status !== 'queued');
    expect(failed).toMatchObject({ status: 'failed', error: { reason: 'outside_window' } });
    const calls = await callsTo(igsid);
    expect(calls.map((c) => [c.answer.status, c.failure])).toEqual([[500, '5xx']]);
  });

  it('a human message queued inside the window and retried after it goes out tagged HUMAN_AGENT', async () => {
    const T0 = nextStart();
    const { igsid } = await wroteAt(T0);
    clock.set(T0 + DAY - 1000);
    await svc.inject({ kind: '5xx', count: 1, path: 'messages' });
    const r = await text(igsid, 'agent, retried', { humanAgent: true });
    expect(r.status).toBe(202);
    await svc.waitOutbox(r.body.id, (o) => o.error?.reason === 'transient');

    clock.set(T0 + DAY + 10 * 60_000);
    svc.sender.wake();
    expect(await svc.waitMessage(r.body.id)).toMatchObject({ status: 'sent' });
    const calls = await callsTo(igsid);
    expect(calls.map((c) => c.body)).toEqual([
      { recipient: { id: igsid }, messaging_type: 'RESPONSE', message: { text: 'agent, retried' } },
      {
        recipient: { id: igsid },
        messaging_type: 'MESSAGE_TAG',
        tag: 'HUMAN_AGENT',
        message: { text: 'agent, retried' },
      },
    ]);
    expect(calls.map((c) => c.answer.status)).toEqual([500, 200]);
  });
});
