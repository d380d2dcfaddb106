import { afterEach, describe, expect, it } from 'vitest';
import { Clock, DAY, delivered, HOUR, type SandboxService, startSandboxService } from './support.ts';

// POST /v1/messages/:id/retry: a failed message is sent again as it was, the policy checked again
// at the time of the retry; the conversation shows the one message, failed, then queued, then sent.

let svc: SandboxService | undefined;
afterEach(async () => {
  await svc?.stop();
  svc = undefined;
});

/** A customer who just wrote, and a message to them that Meta refused for good. */
async function failedMessage(opts: { humanAgent?: boolean } = {}) {
  const clock = new Clock();
  svc = await startSandboxService({ clock });
  const { igsid } = await svc.customer({ from: 'retry customer', text: 'hi' });
  await svc.inject({ kind: 'outside_window', count: 1, path: 'messages' });
  const r = await svc.send({ to: igsid, content: { type: 'text', text: 'your order shipped' }, ...opts });
  expect(r.status).toBe(202);
  const failed = await svc.waitMessage(r.body.id, (m) => m.status === 'failed');
  expect(failed.error).toMatchObject({ reason: 'outside_window' });
  return { svc, clock, igsid, id: r.body.id as string };
}

const retry = (s: SandboxService, id: string) => s.json(`/v1/messages/${id}/retry`, { method: 'POST' });

describe('POST /v1/messages/:id/retry', () => {
  it('sends a failed message again: the same message, queued then sent, once in the thread', async () => {
    const { svc, igsid, id } = await failedMessage();
    const r = await retry(svc, id);
    expect(r).toMatchObject({
      status: 202,
      body: { id, status: 'queued', error: null, text: 'your order shipped' },
    });
    const sent = await svc.waitMessage(id);
    expect(sent.mid).toEqual(expect.any(String));
    const calls = (await svc.outbox()).filter((e) => e.recipientId === igsid);
    expect(
      calls.map((c) => [c.answer.status, (c.body as { message: { text: string } }).message.text]),
    ).toEqual([
      [400, 'your order shipped'],
      [200, 'your order shipped'],
    ]);
    const outbound = (await svc.thread(igsid)).filter((m) => m.direction === 'outbound');
    expect(outbound).toEqual([expect.objectContaining({ id, status: 'sent' })]);
  });

  it('answers 409 for a message that is not failed, and 404 for none', async () => {
    const { svc, igsid, id } = await failedMessage();
    expect((await retry(svc, id)).status).toBe(202);
    await svc.waitMessage(id);
    expect(await retry(svc, id)).toMatchObject({
      status: 409,
      body: { error: { code: 'message_not_failed' } },
    });
    const inbound = (await svc.thread(igsid)).find((m) => m.direction === 'inbound')!;
    expect((await retry(svc, inbound.id)).status).toBe(409);
    expect(await retry(svc, 'msg_nope')).toMatchObject({
      status: 404,
      body: { error: { code: 'message_not_found' } },
    });
  });

  it('two retries at once queue it once', async () => {
    const { svc, igsid, id } = await failedMessage();
    const answers = await Promise.all([retry(svc, id), retry(svc, id)]);
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409]);
    await svc.waitMessage(id);
    await svc.thread(igsid);
    expect(delivered(await svc.outbox()).filter((e) => e.recipientId === igsid)).toHaveLength(1);
  });

  it('refuses with the policy code once the 24-hour window has closed, and the message stays failed', async () => {
    const { svc, clock, id } = await failedMessage();
    clock.advance(DAY + HOUR);
    expect(await retry(svc, id)).toMatchObject({ status: 422, body: { error: { code: 'outside_window' } } });
    expect((await svc.json(`/v1/messages/${id}`)).body.status).toBe('failed');
  });

  it("a person's message retried after 24 hours goes with the HUMAN_AGENT tag", async () => {
    const { svc, clock, igsid, id } = await failedMessage({ humanAgent: true });
    clock.advance(DAY + HOUR);
    expect((await retry(svc, id)).status).toBe(202);
    await svc.waitMessage(id);
    const last = delivered(await svc.outbox())
      .filter((e) => e.recipientId === igsid)
      .at(-1)!;
    expect(last.body).toMatchObject({ messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' });
  });
});
