import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clock, DAY, delivered, type SandboxService, START, startSandboxService } from './support.ts';

// Private replies to comments: POST /v1/messages with a commentId, once per comment, within 7 days.

const clock = new Clock();
let svc: SandboxService;
let n = 0;

beforeAll(async () => {
  clock.set(START);
  svc = await startSandboxService({ clock });
});
afterAll(async () => {
  await svc?.stop();
});

/** A simulated customer comments on a post now; returns the comment id and the commenter. */
async function comment(text: string) {
  const r = await svc.json('/sandbox/messages', { body: { from: `commenter ${++n}`, comment: { text } } });
  expect(r.status).toBe(200);
  await svc.settled();
  return { commentId: r.body.commentId as string, igsid: r.body.igsid as string };
}

const reply = (commentId: string, text: string) => svc.send({ commentId, content: { type: 'text', text } });

describe('private replies', () => {
  it('answers a comment once, privately, with recipient.comment_id', async () => {
    const c = await comment('How much is it?');
    const r = await reply(c.commentId, 'Sent you the price in DM!');
    expect(r.status).toBe(202);
    const sent = await svc.waitMessage(r.body.id, (m) => m.status === 'sent');
    expect(sent.conversationId).toBeTruthy();
    const calls = delivered(await svc.outbox()).filter((e) => JSON.stringify(e.body).includes(c.commentId));
    expect(calls.map((e) => e.body)).toEqual([
      {
        recipient: { comment_id: c.commentId },
        messaging_type: 'RESPONSE',
        message: { text: 'Sent you the price in DM!' },
      },
    ]);

    const again = await reply(c.commentId, 'And once more');
    expect(again.status).toBe(422);
    expect(again.body.error.code).toBe('private_reply_used');
  });

  it('refuses a reply 7 days after the comment, and a comment igdm never saw', async () => {
    const c = await comment('Still available?');
    clock.set(clock.now() + 7 * DAY);
    const late = await reply(c.commentId, 'Too late');
    expect(late.status).toBe(422);
    expect(late.body.error.code).toBe('private_reply_expired');

    const unknown = await reply('17999999999999999', 'Who?');
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.code).toBe('unknown_comment');
  });

  it('does not open the window: a DM to the commenter is still cold outreach', async () => {
    const c = await comment('Nice!');
    expect((await reply(c.commentId, 'Thanks!')).status).toBe(202);
    const dm = await svc.send({ to: c.igsid, content: { type: 'text', text: 'Hello again' } });
    expect(dm.status).toBe(422);
    expect(dm.body.error.code).toBe('never_messaged');
  });

  it('needs exactly one of to and commentId', async () => {
    const both = await svc.send({ to: '123', commentId: '456', content: { type: 'text', text: 'x' } });
    expect(both.status).toBe(400);
    const neither = await svc.send({ content: { type: 'text', text: 'x' } });
    expect(neither.status).toBe(400);
  });
});
