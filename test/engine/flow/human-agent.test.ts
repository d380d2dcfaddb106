import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clock, DAY, HOUR, type SandboxService, START } from '../../send/support.ts';
import {
  conversation,
  lastOutcome,
  messageOf,
  noMoreThan,
  received,
  sentTo,
  startWithConfig,
} from './support.ts';

// HUMAN_AGENT edges with a moved clock (the service's and the sandbox's): automation answers inside
// the 24-hour window as a plain RESPONSE and never with the HUMAN_AGENT tag, even when its reply is
// retried after the window closed; a human agent's reply after 24 h carries the tag, up to 7 days.

const clock = new Clock();
let svc: SandboxService;
let n = 0;

beforeAll(async () => {
  svc = await startWithConfig(
    `rules:
  - name: pricing
    when: { keyword: price }
    reply: { type: text, text: "From $10." }
  - name: reaction
    when: { event: reaction }
    reply: { type: text, text: "Thanks for the reaction!" }
`,
    { clock },
  );
});
afterAll(async () => {
  await svc?.stop();
});

/** A fresh start time, later than anything before (the clock only moves forward). */
let last = START;
function nextStart() {
  last = Math.max(last, clock.now()) + 30 * DAY;
  clock.set(last);
  return last;
}

/** A customer who asks for the price at `T0` and gets the bot's answer. */
async function askedAt(T0: number) {
  clock.set(T0);
  const c = await svc.customer({ from: `agent customer ${++n}`, text: 'price?' });
  const [reply] = await received(svc, c.igsid, 1);
  return { ...c, reply: reply! };
}

const agentReply = (igsid: string, text: string) =>
  svc.send({ to: igsid, content: { type: 'text', text }, humanAgent: true });

describe('bot replies', () => {
  it('a rule reply to a message is a RESPONSE, without a tag', async () => {
    const T0 = nextStart();
    const { igsid, reply } = await askedAt(T0);
    expect(reply.body).toEqual({
      recipient: { id: igsid },
      messaging_type: 'RESPONSE',
      message: { text: 'From $10.' },
    });
  });

  it('a rule reply retried after the window closed is refused outside_window, never tagged', async () => {
    const T0 = nextStart();
    const { igsid } = await askedAt(T0);
    clock.set(T0 + DAY - 1000);
    // The reply's first attempt fails (5xx); its retry comes after the window closed.
    await svc.inject({ kind: '5xx', count: 1, path: 'messages' });
    await svc.customer({ from: igsid, text: 'price again?' });
    const id = (await lastOutcome(svc, igsid)).queued[0];
    await svc.waitOutbox(id, (o) => o.error?.reason === 'transient');
    // Its window is the second message's: it closes at T0 + 2 d − 1 s.
    clock.set(T0 + 2 * DAY + 10 * 60_000);
    svc.sender.wake();
    const failed = await svc.waitMessage(id, (m) => m.status !== 'queued');
    expect(failed).toMatchObject({ status: 'failed', author: 'bot', error: { reason: 'outside_window' } });
    const calls = (await svc.outbox()).filter((e) => e.recipientId === igsid);
    expect(calls.map((c) => [c.answer.status, c.body])).toEqual([
      [200, { recipient: { id: igsid }, messaging_type: 'RESPONSE', message: { text: 'From $10.' } }],
      [500, { recipient: { id: igsid }, messaging_type: 'RESPONSE', message: { text: 'From $10.' } }],
    ]);
  });

  it('an event that does not open the window (a reaction) after 24 h: the rule reply is refused and recorded', async () => {
    const T0 = nextStart();
    const { igsid, reply } = await askedAt(T0);
    clock.set(T0 + DAY + 1);
    await svc.customer({ from: igsid, reaction: { mid: reply.messageId!, reaction: 'love' } });
    expect(await lastOutcome(svc, igsid)).toMatchObject({
      kind: 'reaction',
      rule: 'reaction',
      refused: [{ reason: 'outside_window', message: expect.any(String) }],
    });
    await noMoreThan(svc, igsid, 1);
    // Inside the window the same rule answers.
    clock.set(T0 + DAY + 2);
    await svc.customer({ from: igsid, text: 'hello?' });
    await svc.customer({ from: igsid, reaction: { mid: reply.messageId!, reaction: 'like' } });
    expect(messageOf((await received(svc, igsid, 2))[1]!)).toEqual({ text: 'Thanks for the reaction!' });
  });
});

describe('human agent replies', () => {
  it('at 24 h + 1 ms an agent reply carries HUMAN_AGENT; at 7 d − 1 ms too; at 7 d it is refused', async () => {
    const T0 = nextStart();
    const { igsid } = await askedAt(T0);

    clock.set(T0 + DAY - 1);
    const inside = await agentReply(igsid, 'Sam here (inside 24 h)');
    expect(inside.status, JSON.stringify(inside.body)).toBe(202);
    expect(await svc.waitMessage(inside.body.id)).toMatchObject({ status: 'sent' });
    clock.set(T0 + DAY + 1);
    const after = await agentReply(igsid, 'Sam here (after 24 h)');
    expect(after.status, JSON.stringify(after.body)).toBe(202);
    expect(after.body).toMatchObject({ author: 'human' });
    expect(await svc.waitMessage(after.body.id)).toMatchObject({ status: 'sent' });
    clock.set(T0 + 7 * DAY - 1);
    const lastChance = await agentReply(igsid, 'Sam here (day 7)');
    expect(lastChance.status).toBe(202);
    await svc.waitMessage(lastChance.body.id);

    clock.set(T0 + 7 * DAY);
    const refused = await agentReply(igsid, 'too late');
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('outside_human_agent_window');

    const sent = await received(svc, igsid, 4);
    expect(sent.map((e) => e.body)).toEqual([
      { recipient: { id: igsid }, messaging_type: 'RESPONSE', message: { text: 'From $10.' } },
      { recipient: { id: igsid }, messaging_type: 'RESPONSE', message: { text: 'Sam here (inside 24 h)' } },
      {
        recipient: { id: igsid },
        messaging_type: 'MESSAGE_TAG',
        tag: 'HUMAN_AGENT',
        message: { text: 'Sam here (after 24 h)' },
      },
      {
        recipient: { id: igsid },
        messaging_type: 'MESSAGE_TAG',
        tag: 'HUMAN_AGENT',
        message: { text: 'Sam here (day 7)' },
      },
    ]);
    // The agent took over: the customer's next message is for the human, not the bot.
    expect(await conversation(svc, igsid)).toMatchObject({ threadOwner: 'human' });
    await svc.customer({ from: igsid, text: 'price?' });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ silent: 'a human owns the conversation' });
    await noMoreThan(svc, igsid, 4);
  });

  it('the bot, handed the conversation back after 24 h, still cannot answer until the customer writes', async () => {
    const T0 = nextStart();
    const { igsid, reply } = await askedAt(T0);
    clock.set(T0 + HOUR);
    const id = (await conversation(svc, igsid)).id;
    await svc.json(`/v1/conversations/${id}/handover`, { body: { to: 'human' } });
    clock.set(T0 + 2 * DAY);
    await svc.json(`/v1/conversations/${id}/handover`, { body: { to: 'bot' } });
    await svc.customer({ from: igsid, reaction: { mid: reply.messageId!, reaction: 'love' } });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ refused: [{ reason: 'outside_window' }] });
    expect((await sentTo(svc, igsid)).some((e) => (e.body as { tag?: string }).tag)).toBe(false);
  });
});
