import { verifyWebhook } from '@igdm/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pruneDeliveries } from '../../../src/store/webhook-deliveries.ts';
import { Clock, type SandboxService, SECOND } from '../../send/support.ts';
import { API_KEY } from '../../support/service.ts';
import {
  type HookReceiver,
  lastOutcome,
  messageOf,
  noMoreThan,
  received,
  startHookReceiver,
  startWithConfig,
  textsReceived,
  until,
} from './support.ts';

// Approvers answering over DM, through the sandbox: a tap (quick reply) or a postback decides an
// approval once, from the approver only; the typed word decides their only pending approval, and
// with several igdm asks which; every answer that changes nothing gets a short DM saying why; the
// automation (a rule that answers any text) never sees an answer. The decision goes to the signed
// callback (checked with the SDK's verifyWebhook), retried with one delivery id, and to the event
// log as `approval.decided`; expiry decides too.

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
type Any = any;

const CONFIG = `rules:
  - name: anything
    when: { regex: "[\\\\s\\\\S]" }
    reply: { type: text, text: "rule: {{text}}" }
`;
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

const clock = new Clock();
let svc: SandboxService;
let hooks: HookReceiver;
let endpointSecret: string;

beforeAll(async () => {
  svc = await startWithConfig(CONFIG, { clock });
  hooks = await startHookReceiver();
  const endpoint = await svc.json('/v1/webhook-endpoints', {
    body: { url: `${hooks.url}?events`, events: ['approval.created', 'approval.decided'] },
  });
  expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
  endpointSecret = endpoint.body.secret;
});
afterAll(async () => {
  await svc.stop();
  await hooks.close();
});
beforeEach(() => {
  hooks.status = () => 200;
});

/** A new person writes first (the window opens) and gets the rule's answer. */
async function person(name: string): Promise<string> {
  const { igsid } = await svc.customer({ from: name, text: 'hello' });
  await received(svc, igsid, 1);
  return igsid;
}

async function ask(approver: string, body: Record<string, unknown> = {}): Promise<Any> {
  const r = await svc.json('/v1/approvals', {
    body: {
      approver,
      title: 'Refund order #1042',
      fields: [
        { label: 'Amount', value: '€120' },
        { label: 'IBAN', value: 'DE89370400440532013000', display: 'masked' },
        { label: 'PIN', value: '4321', display: 'concealed' },
      ],
      expiresInSeconds: 3600,
      callbackUrl: `${hooks.url}?callback`,
      callbackSecret: SECRET,
      metadata: { run: 42 },
      ...body,
    },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

const tap = (from: string, approve: boolean, id: string) =>
  svc.customer({
    from,
    text: approve ? 'Approve ✅' : 'Reject ❌',
    quickReplyPayload: `${approve ? 'HIL_APPROVE' : 'HIL_REJECT'}|${id}`,
  });

const approval = async (id: string): Promise<Any> => (await svc.json(`/v1/approvals/${id}`)).body;
const until200 = (id: string, done: (a: Any) => boolean, what: string) =>
  until(() => approval(id), done, what);

/** The callbacks received for an approval. */
const callbacks = (id: string) =>
  hooks.received.filter((h) => h.url.endsWith('?callback') && h.body.approvalId === id);
/** The events webhook endpoint received about an approval. */
const events = (id: string) =>
  hooks.received.filter((h) => h.url.endsWith('?events') && h.body.data.approval.id === id);

/** The stream's events (GET /v1/events) of these types, read until `done` holds of them. */
async function streamed(types: string, done: (events: Any[]) => boolean): Promise<Any[]> {
  const abort = new AbortController();
  const res = await fetch(`${svc.url}/v1/events?after=0&types=${types}`, {
    headers: { authorization: `Bearer ${API_KEY}` },
    signal: abort.signal,
  });
  expect(res.status).toBe(200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const events = () =>
    text
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => JSON.parse(l.slice(6)));
  const deadline = Date.now() + 5000;
  while (!done(events()) && Date.now() < deadline) text += (await reader.read()).value ?? '';
  abort.abort();
  return events();
}

describe('an answer decides an approval once', () => {
  it("the approver's tap approves it: confirmation DM, signed callback, events; the rule never sees it", async () => {
    const ada = await person('Approver Ada');
    const a = await ask(ada);
    const [, dm] = await received(svc, ada, 2);
    expect(messageOf(dm!).quick_replies[0].payload).toBe(`HIL_APPROVE|${a.id}`);

    await tap(ada, true, a.id);
    expect(await textsReceived(svc, ada, 3)).toEqual([
      'rule: hello',
      expect.stringMatching(/^📋 \*Approval Required\*/),
      '✅ Approved: Refund order #1042',
    ]);
    await noMoreThan(svc, ada, 3);
    expect(await lastOutcome(svc, ada)).toMatchObject({
      kind: 'message',
      approval: { id: a.id, answer: 'approved' },
      silent: expect.stringMatching(/approval/),
    });

    const decided = await until200(a.id, (x) => x.callback?.status === 'delivered', 'the callback delivered');
    expect(decided).toMatchObject({
      status: 'approved',
      approved: true,
      respondedBy: ada,
      respondedAt: new Date(clock.now()).toISOString(),
      decidedAt: new Date(clock.now()).toISOString(),
      callback: {
        deliveryId: expect.stringMatching(/^dlv_/),
        status: 'delivered',
        attempts: 1,
        lastError: null,
      },
    });
    const [hook] = callbacks(a.id);
    expect(verifyWebhook(hook!.raw, hook!.headers, SECRET)).toEqual({
      type: 'approval.decided',
      approvalId: a.id,
      status: 'approved',
      approved: true,
      respondedBy: ada,
      respondedAt: decided.respondedAt,
      decidedAt: decided.decidedAt,
      metadata: { run: 42 },
    });
    expect(hook!.headers['x-igdm-delivery']).toBe(hook!.headers['webhook-id']);
    expect(() => verifyWebhook(hook!.raw, hook!.headers, endpointSecret)).toThrow();

    // The tap is in the thread with its approval.
    const thread = await svc.thread(ada);
    const answer = thread.find((m) => m.direction === 'inbound' && m.text === 'Approve ✅') as Any;
    expect(answer).toMatchObject({ payload: `HIL_APPROVE|${a.id}`, approvalId: a.id });

    // Webhook endpoints get approval.created and approval.decided, the masked value null.
    const got = await until(
      () => events(a.id),
      (hs) => hs.length === 2,
      'both events delivered',
    );
    for (const h of got) verifyWebhook(h.raw, h.headers, endpointSecret);
    // Deliveries are not ordered (README): the events' ids give the order.
    got.sort((x, y) => Number(x.body.id) - Number(y.body.id));
    expect(got.map((h) => [h.body.event, h.body.data.approval.status])).toEqual([
      ['approval.created', 'pending'],
      ['approval.decided', 'approved'],
    ]);
    const masked = [
      { label: 'Amount', display: 'visible', value: '€120' },
      { label: 'IBAN', display: 'masked', value: null },
      { label: 'PIN', display: 'concealed', value: null },
    ];
    for (const h of got) expect(h.body.data.approval.fields).toEqual(masked);
    // And so does the stream.
    const ours = (es: Any[]) => es.filter((e) => e.data.approval.id === a.id);
    const stream = ours(await streamed('approval.created,approval.decided', (es) => ours(es).length === 2));
    expect(stream.map((e) => [e.event, e.data.approval.status])).toEqual([
      ['approval.created', 'pending'],
      ['approval.decided', 'approved'],
    ]);
    for (const e of stream) expect(e.data.approval.fields).toEqual(masked);
  });

  it('a postback rejects it', async () => {
    const bo = await person('Approver Bo');
    const a = await ask(bo);
    await svc.customer({ from: bo, postback: { title: 'Reject', payload: `HIL_REJECT|${a.id}` } });
    expect((await textsReceived(svc, bo, 3))[2]).toBe('❌ Rejected: Refund order #1042');
    expect(await approval(a.id)).toMatchObject({ status: 'rejected', approved: false, respondedBy: bo });
    expect(await lastOutcome(svc, bo)).toMatchObject({ kind: 'postback', approval: { answer: 'rejected' } });
  });

  it("someone else's tap changes nothing, and they are told why", async () => {
    const cy = await person('Approver Cy');
    const eve = await person('Eve Elsewhere');
    const a = await ask(cy);
    await tap(eve, true, a.id);
    expect(await textsReceived(svc, eve, 2)).toEqual([
      'rule: hello',
      'Sorry, this approval was sent to someone else: only they can answer it.',
    ]);
    await noMoreThan(svc, eve, 2);
    expect(await lastOutcome(svc, eve)).toMatchObject({ approval: { id: a.id, answer: 'not_yours' } });
    expect(await approval(a.id)).toMatchObject({ status: 'pending', respondedBy: null });
    // Cy can still answer.
    await tap(cy, false, a.id);
    expect(await approval(a.id)).toMatchObject({ status: 'rejected', respondedBy: cy });
  });

  it('a second answer changes nothing, and says so', async () => {
    const di = await person('Approver Di');
    const a = await ask(di);
    await tap(di, true, a.id);
    await tap(di, false, a.id);
    expect((await textsReceived(svc, di, 4)).slice(2)).toEqual([
      '✅ Approved: Refund order #1042',
      'This approval was already approved, so your answer changed nothing: Refund order #1042',
    ]);
    await noMoreThan(svc, di, 4);
    const decided = await until200(a.id, (x) => x.callback?.status === 'delivered', 'delivered');
    expect(decided).toMatchObject({ status: 'approved', approved: true });
    expect(callbacks(a.id)).toHaveLength(1);
    expect(await lastOutcome(svc, di)).toMatchObject({ approval: { answer: 'already_decided' } });
  });

  it('after a cancel, an answer changes nothing, and says so', async () => {
    const fay = await person('Approver Fay');
    const a = await ask(fay);
    expect((await svc.json(`/v1/approvals/${a.id}/cancel`, { method: 'POST', body: {} })).status).toBe(200);
    await tap(fay, true, a.id);
    expect((await textsReceived(svc, fay, 3))[2]).toBe(
      'This approval was cancelled, so your answer was not recorded: Refund order #1042',
    );
    const cancelled = await until200(a.id, (x) => x.callback?.status === 'delivered', 'delivered');
    expect(cancelled).toMatchObject({ status: 'cancelled', approved: null, respondedBy: null });
    expect(verifyWebhook<Any>(callbacks(a.id)[0]!.raw, callbacks(a.id)[0]!.headers, SECRET).status).toBe(
      'cancelled',
    );
  });

  it('a payload naming no approval of this channel does nothing at all', async () => {
    const gus = await person('Tampering Gus');
    for (const payload of ['HIL_APPROVE|apr_forged', 'HIL_REJECT|', 'HIL_APPROVE|apr_0|extra']) {
      await svc.customer({ from: gus, text: 'Approve ✅', quickReplyPayload: payload });
      expect(await lastOutcome(svc, gus)).toMatchObject({ approval: { answer: 'unknown' } });
    }
    await noMoreThan(svc, gus, 1);
  });
});

describe('typed answers', () => {
  it('"approve" decides the only pending approval; from anyone with none pending it is a message', async () => {
    const hal = await person('Typing Hal');
    const a = await ask(hal);
    // A tap on some other quick reply is the rules', whatever its title says.
    await svc.customer({ from: hal, text: 'Approve', quickReplyPayload: 'SOMETHING_ELSE' });
    expect((await textsReceived(svc, hal, 3))[2]).toBe('rule: Approve');
    expect((await approval(a.id)).status).toBe('pending');
    await svc.customer({ from: hal, text: 'Approve!' });
    expect((await textsReceived(svc, hal, 4))[3]).toBe('✅ Approved: Refund order #1042');
    expect(await approval(a.id)).toMatchObject({ status: 'approved', respondedBy: hal });
    // Nothing pending any more: the word is an ordinary message again.
    await svc.customer({ from: hal, text: 'approve' });
    expect((await textsReceived(svc, hal, 5))[4]).toBe('rule: approve');
  });

  it('with several pending, igdm asks which (one quick reply each), and the tap decides', async () => {
    const ivy = await person('Typing Ivy');
    const first = await ask(ivy, { title: 'Ship order #1' });
    const second = await ask(ivy, { title: 'A very long title for order #2' });
    await svc.customer({ from: ivy, text: 'reject' });
    const [, , , question] = await received(svc, ivy, 4);
    expect(messageOf(question!)).toEqual({
      text: 'You have 2 approvals waiting. Which one do you want to reject?',
      quick_replies: [
        { content_type: 'text', title: 'Ship order #1', payload: `HIL_REJECT|${first.id}` },
        { content_type: 'text', title: 'A very long title f…', payload: `HIL_REJECT|${second.id}` },
      ],
    });
    expect(await lastOutcome(svc, ivy)).toMatchObject({
      approval: { id: null, answer: 'asked', pending: [first.id, second.id] },
    });
    expect((await approval(first.id)).status).toBe('pending');
    await svc.customer({ from: ivy, text: 'Ship order #1', quickReplyPayload: `HIL_REJECT|${first.id}` });
    expect((await textsReceived(svc, ivy, 5))[4]).toBe('❌ Rejected: Ship order #1');
    expect((await approval(first.id)).status).toBe('rejected');
    expect((await approval(second.id)).status).toBe('pending');
  });
});

describe('expiry and the callback', () => {
  it('an approval past its time is expired by the sweep; a later answer is told so', async () => {
    const jo = await person('Late Jo');
    const a = await ask(jo, { expiresInSeconds: 60 });
    clock.advance(61 * SECOND);
    const expired = await until200(
      a.id,
      (x) => x.callback?.status === 'delivered',
      'expired and called back',
    );
    expect(expired).toMatchObject({ status: 'expired', approved: null, respondedBy: null });
    expect(verifyWebhook<Any>(callbacks(a.id)[0]!.raw, callbacks(a.id)[0]!.headers, SECRET)).toMatchObject({
      status: 'expired',
      approved: null,
    });
    await tap(jo, true, a.id);
    expect((await textsReceived(svc, jo, 3))[2]).toBe(
      'Sorry, this approval has expired, so your answer was not recorded: Refund order #1042',
    );
    expect((await approval(a.id)).status).toBe('expired');
  });

  it('a failing receiver is retried with the same delivery id, then the callback is failed, visibly', async () => {
    const kim = await person('Retried Kim');
    const retried = await ask(kim);
    let calls = 0;
    hooks.status = (h) => (h.url.endsWith('?callback') && ++calls <= 2 ? 503 : 200);
    await tap(kim, true, retried.id);
    await until(
      () => svc.queue.runNow('webhook').then(() => callbacks(retried.id).length),
      (n) => n >= 3,
      'three attempts',
    );
    const delivered = await until200(retried.id, (x) => x.callback?.status === 'delivered', 'delivered');
    expect(delivered.callback).toMatchObject({ attempts: 3, lastError: null });
    const sent = callbacks(retried.id);
    expect(new Set(sent.map((h) => h.headers['webhook-id'])).size).toBe(1);
    expect(new Set(sent.map((h) => h.raw)).size).toBe(1);
    for (const h of sent) verifyWebhook(h.raw, h.headers, SECRET);

    // A receiver that never takes it: after 24 hours of attempts, failed, and the approval says so.
    const lee = await person('Unlucky Lee');
    const failing = await ask(lee);
    hooks.status = (h) => (h.url.endsWith('?callback') ? 500 : 200);
    await tap(lee, false, failing.id);
    const pending = await until200(failing.id, (x) => x.callback?.attempts === 1, 'the first attempt');
    expect(pending.callback).toMatchObject({ status: 'pending', lastError: 'HTTP 500' });
    await svc.store.db
      .updateTable('webhookDeliveries')
      .set({ retryUntil: Date.now() - 1 })
      .where('id', '=', pending.callback.deliveryId)
      .execute();
    // Made due until it runs: the first attempt's outcome (a retry in seconds) may still be on its
    // way to the queue, which runNow does not touch while the job is running.
    const failed = await until(
      () => svc.queue.runNow('webhook').then(() => approval(failing.id)),
      (x) => x.callback?.status === 'failed',
      'failed',
    );
    expect(failed).toMatchObject({
      status: 'rejected',
      callback: { attempts: 2, lastError: 'HTTP 500' },
    });
    const delivery = await svc.json(`/v1/webhook-deliveries/${failed.callback.deliveryId}`);
    expect(delivery.body).toMatchObject({ status: 'failed', event: 'approval.decided', endpointId: null });
    // Settled deliveries past their retention go; an approval's callback stays with its approval.
    await pruneDeliveries(svc.store.db, Date.now() + 1);
    expect((await approval(failing.id)).callback).toEqual(failed.callback);
    expect((await approval(retried.id)).callback).toEqual(delivered.callback);
  });
});
