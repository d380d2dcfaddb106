import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messagingItem } from '../../../src/sandbox/wire.ts';
import type { SandboxService } from '../../send/support.ts';
import {
  appEcho,
  conversation,
  deliverItem,
  lastOutcome,
  noMoreThan,
  otherApp,
  outcomes,
  received,
  startWithConfig,
  textsReceived,
} from './support.ts';

// Handover: the bot or a human owns a conversation. A handover rule, the API, an agent's reply
// through the API or a message typed in the Instagram app hand it to a human, and the bot falls
// silent; with IGDM_HANDOVER_APP_ID, Meta's conversation routing follows (pass/take thread control),
// and routing webhooks move igdm's record.

const INBOX_APP = '555000111222333';
let svc: SandboxService;
let n = 0;
const who = () => `handover customer ${++n}`;
const SANDBOX_APP = () => svc.sandbox!.options.appId;

beforeAll(async () => {
  svc = await startWithConfig(
    `rules:
  - name: pricing
    when: { keyword: price }
    reply: { type: text, text: "From $10." }
  - name: agent
    when: { keyword: [human, agent] }
    handover: human
`,
    { env: { IGDM_HANDOVER_APP_ID: INBOX_APP } },
  );
});
afterAll(async () => {
  await svc?.stop();
});

const handover = (igsid: string, to: 'human' | 'bot') =>
  svc.json(`/v1/conversations/${encodeURIComponent(igsid)}/handover`, { body: { to } });

/** The thread owner at (the sandbox's) Meta: GET /me/thread_owner, as an app would ask. */
async function metaThreadOwner(igsid: string): Promise<string> {
  const sandbox = svc.sandbox!;
  const res = await fetch(`${svc.url}/sandbox/graph/v24.0/me/thread_owner?recipient=${igsid}`, {
    headers: { authorization: `Bearer ${sandbox.options.accessToken}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: { thread_owner: { app_id: string } }[] }).data[0]!.thread_owner
    .app_id;
}

const routingCalls = async () =>
  ((await svc.json('/sandbox/calls')).body.data as { edge: string; status: number }[]).filter((c) =>
    c.edge.endsWith('_thread_control'),
  );

/** A customer the bot has answered once. */
async function answered() {
  const c = await svc.customer({ from: who(), text: 'price?' });
  expect(await textsReceived(svc, c.igsid, 1)).toEqual(['From $10.']);
  return c;
}

describe('handover through the API', () => {
  it('{to: human} silences the bot and passes thread control to the inbox app; {to: bot} takes it back', async () => {
    const { igsid } = await answered();
    const id = (await conversation(svc, igsid)).id;
    const before = (await routingCalls()).length;

    const toHuman = await svc.json(`/v1/conversations/${id}/handover`, { body: { to: 'human' } });
    expect(toHuman.status, JSON.stringify(toHuman.body)).toBe(200);
    expect(toHuman.body).toMatchObject({ id, threadOwner: 'human' });
    expect(toHuman.body).not.toHaveProperty('routingError');
    expect(await metaThreadOwner(igsid)).toBe(INBOX_APP);

    // The inbox app owns the thread at Meta now: the customer's messages reach igdm as standby.
    await svc.customer({ from: igsid, text: 'price?' });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ silent: expect.stringMatching(/^standby/) });
    await noMoreThan(svc, igsid, 1);

    // Handing over to the owner it has already changes nothing at Meta.
    expect((await svc.json(`/v1/conversations/${id}/handover`, { body: { to: 'human' } })).status).toBe(200);

    const toBot = await svc.json(`/v1/conversations/${id}/handover`, { body: { to: 'bot' } });
    expect(toBot.body).toMatchObject({ threadOwner: 'bot' });
    expect(await metaThreadOwner(igsid)).toBe(SANDBOX_APP());
    expect((await routingCalls()).slice(before).map((c) => [c.edge, c.status])).toEqual([
      ['pass_thread_control', 200],
      ['take_thread_control', 200],
    ]);

    await svc.customer({ from: igsid, text: 'price?' });
    expect(await textsReceived(svc, igsid, 2)).toEqual(['From $10.', 'From $10.']);
  });

  it('a handover rule passes thread control too', async () => {
    const { igsid } = await answered();
    await svc.customer({ from: igsid, text: 'an agent please' });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ rule: 'agent', handover: 'human' });
    expect(await metaThreadOwner(igsid)).toBe(INBOX_APP);
  });

  it('bad requests: unknown conversation 404, bad owner 400', async () => {
    expect((await handover('cnv_nope', 'human')).status).toBe(404);
    const { igsid } = await answered();
    const id = (await conversation(svc, igsid)).id;
    const bad = await svc.json(`/v1/conversations/${id}/handover`, { body: { to: 'robot' } });
    expect(bad.status).toBe(400);
    expect((await conversation(svc, igsid)).threadOwner).toBe('bot');
  });
});

describe('human replies', () => {
  it('a message typed in the Instagram app (an echo igdm did not send) is a human reply, and the human takes over', async () => {
    const { igsid } = await answered();
    const mid = await appEcho(svc, igsid, 'Hi, Sam from the shop here!');
    const thread = await svc.thread(igsid);
    expect(thread.find((m) => m.mid === mid)).toMatchObject({
      direction: 'outbound',
      text: 'Hi, Sam from the shop here!',
      isEcho: true,
      author: 'human',
    });
    expect(await conversation(svc, igsid)).toMatchObject({ threadOwner: 'human' });
    expect((await outcomes(svc, igsid)).at(-1)).toEqual({ kind: 'echo', echo: 'human', handover: 'human' });
    await svc.customer({ from: igsid, text: 'price?' });
    await noMoreThan(svc, igsid, 1);
  });

  it("the echo of igdm's own reply does not hand over", async () => {
    const { igsid } = await answered();
    const sent = await received(svc, igsid, 1);
    const thread = await svc.thread(igsid);
    expect(thread.find((m) => m.mid === sent[0]!.messageId)).toMatchObject({
      direction: 'outbound',
      author: 'bot',
      status: 'sent',
    });
    // Matched to its send as it is stored, or by the engine if it came before Meta's answer.
    const echoes = (await outcomes(svc, igsid)).filter((o) => o.kind === 'echo');
    expect(echoes.every((o) => o.echo === 'igdm')).toBe(true);
    expect(await conversation(svc, igsid)).toMatchObject({ threadOwner: 'bot' });
    // The thread holds the reply once, not the reply and its echo.
    expect(thread.filter((m) => m.direction === 'outbound')).toHaveLength(1);
  });

  it('an agent reply through the API (humanAgent: true) hands the conversation to a human', async () => {
    const { igsid } = await answered();
    const r = await svc.send({
      to: igsid,
      content: { type: 'text', text: 'Sam here, how can I help?' },
      humanAgent: true,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body).toMatchObject({ author: 'human' });
    expect(await conversation(svc, igsid)).toMatchObject({ threadOwner: 'human' });
    expect(await textsReceived(svc, igsid, 2)).toEqual(['From $10.', 'Sam here, how can I help?']);
    expect(await metaThreadOwner(igsid)).toBe(INBOX_APP);
    await svc.customer({ from: igsid, text: 'price?' });
    await noMoreThan(svc, igsid, 2);
    // Its echo is igdm's own: no second handover, nothing else.
    expect((await outcomes(svc, igsid)).filter((o) => o.echo === 'human')).toEqual([]);
  });

  it('an API message without humanAgent (another system) does not hand over', async () => {
    const { igsid } = await answered();
    const r = await svc.send({ to: igsid, content: { type: 'text', text: 'Your order shipped.' } });
    expect(r.status).toBe(202);
    await textsReceived(svc, igsid, 2);
    expect(await conversation(svc, igsid)).toMatchObject({ threadOwner: 'bot' });
  });
});

describe('routing webhooks', () => {
  const controlItem = (igsid: string, key: string, control: Record<string, unknown>) =>
    messagingItem(igsid, svc.sandbox!.options.accountId, svc.sandbox!.now(), { [key]: control });

  it('the inbox app passing the thread back gives it to the bot; taking it gives it to a human', async () => {
    const { igsid } = await answered();
    await svc.customer({ from: igsid, text: 'I want a human' });
    expect(await conversation(svc, igsid)).toMatchObject({ threadOwner: 'human' });

    await otherApp(svc, igsid, 'pass', INBOX_APP);
    expect(await conversation(svc, igsid)).toMatchObject({ threadOwner: 'bot' });
    expect(await lastOutcome(svc, igsid)).toEqual({ kind: 'handover', handover: 'bot' });
    await svc.customer({ from: igsid, text: 'price?' });
    expect((await textsReceived(svc, igsid, 2))[1]).toBe('From $10.');

    await otherApp(svc, igsid, 'take', INBOX_APP);
    expect(await conversation(svc, igsid)).toMatchObject({ threadOwner: 'human' });
    // Following Meta's routing does not call Meta again.
    expect(await metaThreadOwner(igsid)).toBe(INBOX_APP);
    // While the inbox app owns the thread, the customer's messages reach igdm as standby:
    // recorded, not answered.
    await svc.customer({ from: igsid, text: 'price?' });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ silent: expect.stringMatching(/^standby/) });
    expect((await svc.thread(igsid)).at(-1)).toMatchObject({ direction: 'inbound', text: 'price?' });
    await noMoreThan(svc, igsid, 2);
  });

  it('a request for thread control changes nothing', async () => {
    const { igsid } = await answered();
    await deliverItem(
      svc,
      controlItem(igsid, 'request_thread_control', { requested_owner_app_id: INBOX_APP, metadata: 'please' }),
    );
    expect(await conversation(svc, igsid)).toMatchObject({ threadOwner: 'bot' });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ kind: 'handover', silent: expect.any(String) });
  });

  it('a message delivered as standby while igdm thought it owned the thread: the human has it, the bot is silent', async () => {
    const { igsid } = await answered();
    // Another app took the thread and its take_thread_control webhook never arrived.
    svc.sandbox!.threadOwners.set(igsid, INBOX_APP);
    await svc.customer({ from: igsid, text: 'price?' });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ silent: expect.stringMatching(/^standby/) });
    expect(await conversation(svc, igsid)).toMatchObject({ threadOwner: 'human' });
    await noMoreThan(svc, igsid, 1);
  });
});
