import { afterEach, describe, expect, it } from 'vitest';
import { ACCOUNT_ID, startTestService } from '../support/service.ts';
import { Clock, delivered, type SandboxService, sleep, startSandboxService, until } from './support.ts';

// Sends whose outcome igdm cannot know: the request left, but no answer that can be read came back
// (a timeout, a connection cut after the request was written, an empty, cut-off or HTML answer, an
// answer too long to read). Meta may have delivered the message, so igdm never sends it again
// blindly: Meta's echo settles it, or else Meta's Conversations API, and it goes again only when Meta
// says it is not there. The sandbox's after-delivery failures deliver the message (and its echo,
// unless `echo: false`) and spoil only the answer.

let svc: SandboxService | undefined;
afterEach(async () => {
  await svc?.stop();
  svc = undefined;
});

async function setup(env: Record<string, string> = {}) {
  const clock = new Clock().running();
  svc = await startSandboxService({ clock, env: { IGDM_GRAPH_TIMEOUT_MS: '1000', ...env } });
  const { igsid } = await svc.customer({ from: 'customer', text: 'hi' });
  return { svc, igsid, clock };
}

const sendText = async (s: SandboxService, to: string, text: string) => {
  const r = await s.send({ to, content: { type: 'text', text } });
  expect(r.status).toBe(202);
  return r.body.id as string;
};

/** The message once it is settled as sent, and what the customer received. */
async function settled(s: SandboxService, id: string, igsid: string, timeoutMs = 8000) {
  const message = await s.waitMessage(id, (m) => m.status === 'sent', timeoutMs);
  const received = delivered(await s.outbox()).filter((e) => e.recipientId === igsid);
  const outbound = (await s.thread(igsid)).filter((m) => m.direction === 'outbound');
  return { message, received, outbound };
}

describe('Meta delivered the message, but its answer was lost or spoiled', () => {
  it('answered after the timeout (2.5 s against 1 s): one delivery, sent with Meta’s mid from the echo', async () => {
    const { svc, igsid } = await setup();
    await svc.inject({ kind: 'late_answer', delayMs: 2500, path: 'messages' });
    const id = await sendText(svc, igsid, 'Your order shipped');

    const { message, received, outbound } = await settled(svc, id, igsid);
    // igdm gave up on the answer (its timeout), and did not send again.
    const call = await until(
      () => svc.sandbox!.calls.list().find((c) => c.failure === 'late_answer'),
      (c) => c?.answer !== undefined,
      'the late answer ended',
    );
    expect(call!.answer).toEqual({ bytes: 0, cut: true });
    expect(received).toHaveLength(1);
    expect(message).toMatchObject({ status: 'sent', mid: received[0]!.messageId, possibleDuplicate: false });
    expect(outbound).toEqual([expect.objectContaining({ id, mid: received[0]!.messageId, isEcho: true })]);
    await sleep(500); // no retry follows
    expect(delivered(await svc.outbox())).toHaveLength(1);
    expect(await svc.waitOutbox(id, () => true)).toMatchObject({ status: 'sent', attempts: 1 });
  });

  it('answered late and its echo lost: the Conversations API finds it, not sent again', async () => {
    const { svc, igsid } = await setup({ IGDM_ECHO_GRACE_MS: '500' });
    await svc.inject({ kind: 'late_answer', delayMs: 2500, echo: false, path: 'messages' });
    const id = await sendText(svc, igsid, 'We open at 9');
    const { message, received } = await settled(svc, id, igsid);
    expect(received).toHaveLength(1);
    expect(message).toMatchObject({ mid: received[0]!.messageId, possibleDuplicate: false });
    const asked = svc.sandbox!.calls.list().filter((c) => c.edge === 'conversations');
    expect(asked.length).toBeGreaterThanOrEqual(1);
    await sleep(500);
    expect(delivered(await svc.outbox())).toHaveLength(1);
  });

  for (const garble of ['empty', 'truncated', 'html'] as const) {
    it(`answered 200 with ${garble === 'html' ? 'an HTML page' : `a ${garble} body`}: not "sent" without a mid; settled by the echo`, async () => {
      const { svc, igsid } = await setup();
      await svc.inject({ kind: 'garbled_answer', garble, path: 'messages' });
      const id = await sendText(svc, igsid, `garbled ${garble}`);
      const { message, received } = await settled(svc, id, igsid);
      expect(received).toHaveLength(1);
      expect(message.mid).toBe(received[0]!.messageId);
      expect(message.mid).toEqual(expect.any(String));
      expect(await svc.waitOutbox(id, () => true)).toMatchObject({ status: 'sent', attempts: 1 });
    });
  }

  it('a 64 MiB answer is cut off unread (a few MiB at most), and the send settled by the echo', async () => {
    const { svc, igsid } = await setup({ IGDM_GRAPH_TIMEOUT_MS: '10000' });
    await svc.inject({ kind: 'huge_answer', sizeBytes: 64 * 1024 * 1024, path: 'messages' });
    const id = await sendText(svc, igsid, 'big answer');
    const { message, received } = await settled(svc, id, igsid);
    expect(received).toHaveLength(1);
    expect(message.mid).toBe(received[0]!.messageId);
    const call = await until(
      () => svc.sandbox!.calls.list().find((c) => c.failure === 'huge_answer'),
      (c) => c?.answer !== undefined,
      'the huge answer ended',
    );
    expect(call!.answer!.cut).toBe(true);
    expect(call!.answer!.bytes).toBeLessThan(16 * 1024 * 1024);
  });

  it('the connection cut after the request was written: one delivery, sent with the echo’s mid', async () => {
    const { svc, igsid } = await setup();
    await svc.inject({ kind: 'cut_answer', path: 'messages' });
    const id = await sendText(svc, igsid, 'cut');
    const { message, received } = await settled(svc, id, igsid);
    expect(received).toHaveLength(1);
    expect(message.mid).toBe(received[0]!.messageId);
  });
});

describe('Meta did not get it', () => {
  it('a timeout: after the echo’s grace Meta says it is not there, so it is sent again, once', async () => {
    const { svc, igsid } = await setup({ IGDM_ECHO_GRACE_MS: '500' });
    await svc.inject({ kind: 'timeout', path: 'messages' }); // held, never delivered
    const id = await sendText(svc, igsid, 'eventually');
    const { message, received, outbound } = await settled(svc, id, igsid);
    expect(received).toHaveLength(1);
    expect(message).toMatchObject({ mid: received[0]!.messageId, possibleDuplicate: false });
    expect(outbound).toHaveLength(1);
    expect(await svc.waitOutbox(id, () => true)).toMatchObject({ status: 'sent', attempts: 2 });
    expect((await svc.outbox()).map((c) => [c.answer.status, c.failure])).toEqual([
      [null, 'timeout'],
      [200, null],
    ]);
  });

  it('a connection reset after the request was written: the same, sent again once Meta says so', async () => {
    const { svc, igsid } = await setup({ IGDM_ECHO_GRACE_MS: '500' });
    await svc.inject({ kind: 'network_reset', path: 'messages' });
    const id = await sendText(svc, igsid, 'after a reset');
    const { received } = await settled(svc, id, igsid);
    expect(received).toHaveLength(1);
    expect(await svc.waitOutbox(id, () => true)).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('timing out on every try: failed after 8 attempts, each one asked about, never sent blindly', async () => {
    const { svc, igsid, clock } = await setup({ IGDM_ECHO_GRACE_MS: '100', IGDM_GRAPH_TIMEOUT_MS: '100' });
    await svc.inject({ kind: 'timeout', count: 8, path: 'messages' });
    const id = await sendText(svc, igsid, 'never');
    // The clock moves past the circuit breaker, which rests the channel after 5 failures in a row.
    const skipping = setInterval(() => {
      clock.advance(60_000);
      svc.sender.wake();
    }, 100);
    const failed = await svc
      .waitMessage(id, (m) => m.status === 'failed', 15_000)
      .finally(() => clearInterval(skipping));
    expect(failed.error).toMatchObject({ reason: 'timeout' });
    expect(failed.error.message).toMatch(/Meta does not have it after 8 attempts/);
    expect(delivered(await svc.outbox())).toEqual([]);
    const asked = svc.sandbox!.calls.list().filter((c) => c.edge === 'conversations');
    expect(asked).toHaveLength(8);
  });
});

describe('Meta cannot say', () => {
  it('its Conversations API fails three times: sent again, and the message marked as a possible duplicate', async () => {
    const { svc, igsid } = await setup({ IGDM_ECHO_GRACE_MS: '500' });
    await svc.inject({ kind: 'late_answer', delayMs: 2000, echo: false, path: 'messages' });
    await svc.inject({ kind: '5xx', count: 3, path: 'conversations' });
    const id = await sendText(svc, igsid, 'twice, perhaps');
    const message = await svc.waitMessage(id, (m) => m.status === 'sent', 15_000);
    expect(message.possibleDuplicate).toBe(true);
    expect(delivered(await svc.outbox()).filter((e) => e.recipientId === igsid)).toHaveLength(2);
    expect(svc.sender.resentUnconfirmed).toBe(1);
  });
});

describe('a request that never left', () => {
  it('connection refused is retried as a plain failure, without waiting for an echo', async () => {
    // testEnv points the Graph API at a closed loopback port.
    const gateway = await startTestService();
    try {
      const now = Date.now();
      const inbound = {
        object: 'instagram',
        entry: [
          {
            id: ACCOUNT_ID,
            time: now,
            messaging: [
              {
                sender: { id: '5550001' },
                recipient: { id: ACCOUNT_ID },
                timestamp: now,
                message: { mid: 'mid.refused.1', text: 'hi' },
              },
            ],
          },
        ],
      };
      expect((await gateway.post(inbound)).status).toBe(200);
      await gateway.settled();
      const res = await gateway.api('/v1/messages', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ to: '5550001', content: { type: 'text', text: 'hello' } }),
      });
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      const row = await until(
        () =>
          gateway.store.db
            .selectFrom('outbox')
            .selectAll()
            .where('messageId', '=', id)
            .executeTakeFirstOrThrow(),
        (r) => r.attempts === 1 && r.status !== 'sending',
        'the first attempt settled',
      );
      expect(row.status).toBe('queued'); // not unconfirmed: nothing left igdm
      expect(JSON.parse(row.error!)).toMatchObject({ reason: 'network_error', action: 'retry' });
    } finally {
      await gateway.stop();
    }
  });
});
