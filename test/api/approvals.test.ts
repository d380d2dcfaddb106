import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageOf, sentTo } from '../engine/flow/support.ts';
import {
  Clock,
  HOUR,
  type SandboxService,
  SECOND,
  START,
  startSandboxService,
  until,
} from '../send/support.ts';
import { callApi } from '../support/service.ts';

// Asking for an approval through the API (POST /v1/approvals) in sandbox mode: the DM the approver
// gets, exactly in seed 001's words for each display mode, within Meta's 1000 bytes; the approval as
// GET shows it (masked values to admin keys only, concealed ones never); nothing sent or stored
// outside the approver's window; bad input refused; the list and its filters; cancelling.

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
type Any = any;

const clock = new Clock();
let svc: SandboxService;
let approver: string;
let reader: string;

beforeAll(async () => {
  svc = await startSandboxService({ clock });
  approver = (await svc.customer({ from: 'Approving Ada', text: 'ready when you are' })).igsid;
  const key = await svc.json('/v1/api-keys', { body: { name: 'workflow', scopes: ['read', 'send'] } });
  reader = key.body.key;
});
afterAll(() => svc.stop());

const ask = (body: Record<string, unknown>, key?: string) =>
  callApi(svc, 'POST', '/v1/approvals', {
    ...(key && { key }),
    body: { channelId: 'default', approver, expiresInSeconds: 3600, ...body },
  });

/** The DM the approver got for an approval, as the sandbox's Send API received it. */
async function dmOf(approvalId: string): Promise<Any> {
  const isIt = (m: Any) => m.quick_replies?.[0]?.payload === `HIL_APPROVE|${approvalId}`;
  const all = await until(
    () => sentTo(svc, approver),
    (sent) => sent.some((e) => isIt(messageOf(e))),
    `the DM of ${approvalId}`,
  );
  return all.map(messageOf).find(isIt);
}

/** Every send queued so far has gone (or failed). */
const allSent = () =>
  until(
    () =>
      svc.store.db.selectFrom('outbox').select('id').where('status', 'in', ['queued', 'sending']).execute(),
    (rows) => rows.length === 0,
    'the sends settled',
  );

const quickReplies = (id: string) => [
  { content_type: 'text', title: 'Approve ✅', payload: `HIL_APPROVE|${id}` },
  { content_type: 'text', title: 'Reject ❌', payload: `HIL_REJECT|${id}` },
];

describe('the approval DM', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['visible', { label: 'Amount', value: '€1,200', display: 'visible' }, '• Amount: €1,200\n'],
    ['visible by default, null as a dash', { label: 'Note', value: null }, '• Note: —\n'],
    ['masked', { label: 'Card', value: '4111 1111 1111 1111', display: 'masked' }, '• Card: ••••••••\n'],
    ['concealed', { label: 'CVV', value: '123', display: 'concealed' }, ''],
  ];
  for (const [mode, field, line] of cases) {
    it(`shows a ${mode} field as seed 001 does`, async () => {
      const r = await ask({ title: 'Refund order #1042', fields: [field] });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const dm = await dmOf(r.body.id);
      expect(dm.text).toBe(`📋 *Approval Required*\nRefund order #1042\n\n${line}\nPlease select an action:`);
      expect(dm.quick_replies).toEqual(quickReplies(r.body.id));
    });
  }

  it('has one line per visible or masked field, in order, and none for concealed ones', async () => {
    const r = await ask({
      title: 'Deploy to production',
      fields: [
        { label: 'Service', value: 'billing' },
        { label: 'Token', value: 'tok_live_1', display: 'masked' },
        { label: 'Password', value: 'hunter2', display: 'concealed' },
        { label: 'Replicas', value: 3 },
        { label: 'Spare', value: null, display: 'masked' },
      ],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect((await dmOf(r.body.id)).text).toBe(
      '📋 *Approval Required*\nDeploy to production\n\n• Service: billing\n• Token: ••••••••\n• Replicas: 3\n• Spare: ••••••••\n\nPlease select an action:',
    );
    expect(r.body).toMatchObject({
      id: expect.stringMatching(/^apr_/),
      channelId: 'default',
      conversationId: expect.stringMatching(/^cnv_/),
      approver,
      title: 'Deploy to production',
      status: 'pending',
      approved: null,
      respondedBy: null,
      respondedAt: null,
      decidedAt: null,
      expiresAt: new Date(START + HOUR).toISOString(),
      createdAt: new Date(START).toISOString(),
      metadata: {},
      callbackUrl: null,
      callback: null,
      messageId: expect.stringMatching(/^msg_/),
      shortened: [],
    });
    // The admin key sees the masked value; the concealed one is nowhere.
    expect(r.body.fields).toEqual([
      { label: 'Service', display: 'visible', value: 'billing' },
      { label: 'Token', display: 'masked', value: 'tok_live_1' },
      { label: 'Password', display: 'concealed', value: null },
      { label: 'Replicas', display: 'visible', value: '3' },
      { label: 'Spare', display: 'masked', value: null },
    ]);
    expect((await svc.json(`/v1/approvals/${r.body.id}`)).body).toEqual(r.body);
    const asReader = await callApi(svc, 'GET', `/v1/approvals/${r.body.id}`, { key: reader });
    expect(asReader.body.fields[1]).toEqual({ label: 'Token', display: 'masked', value: null });
    // The DM in the thread: igdm's, about this approval.
    const message = await svc.waitMessage(r.body.messageId);
    expect(message).toMatchObject({ author: 'approval', approvalId: r.body.id, direction: 'outbound' });
  });

  it('cuts long values to fit 1000 bytes, and says which', async () => {
    const long = 'é'.repeat(600);
    const r = await ask({
      title: 'Publish the post',
      fields: [
        { label: 'Caption', value: long },
        { label: 'Alt text', value: long },
        { label: 'Author', value: 'ada' },
      ],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.shortened).toEqual(['Caption', 'Alt text']);
    expect(r.body.fields[0].value).toBe(long);
    const text: string = (await dmOf(r.body.id)).text;
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(1000);
    expect(text).toMatch(/^📋 \*Approval Required\*\nPublish the post\n\n• Caption: é+…\n• Alt text: é+…\n/);
    expect(text.endsWith('• Author: ada\n\nPlease select an action:')).toBe(true);
    // A title longer than what is left is cut too; line breaks in values never make lines of their own.
    const titled = await ask({ title: '€'.repeat(300), fields: [{ label: 'Body', value: `a\nb\n${long}` }] });
    expect(titled.body.shortened).toEqual(['title', 'Body']);
    const body: string = (await dmOf(titled.body.id)).text;
    expect(body.split('\n').filter((l) => l.startsWith('• '))).toHaveLength(1);
    expect(body).toContain('• Body: a b éé');
  });

  it('refuses fields whose labels alone cannot fit (422), and sends nothing', async () => {
    await allSent();
    const before = (await svc.outbox()).length;
    const fields = Array.from({ length: 50 }, (_, i) => ({ label: `${'L'.repeat(90)}${i}`, value: 'x' }));
    const r = await ask({ title: 'Too many', fields });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('approval_too_long');
    expect((await svc.outbox()).length).toBe(before);
  });
});

describe('the window, and bad input', () => {
  it('answers 422 outside_window for someone who never wrote, and for a window closed, storing nothing', async () => {
    const late = await svc.customer({ from: 'Late Larry', text: 'hi' });
    await allSent();
    const counts = await svc.counts();
    const outbox = (await svc.outbox()).length;
    const never = await ask({ approver: '7777777777', title: 'Nope' });
    expect(never.status).toBe(422);
    expect(never.body.error.code).toBe('outside_window');
    clock.advance(24 * HOUR);
    try {
      const closed = await ask({ approver: late.igsid, title: 'Too late' });
      expect(closed.status).toBe(422);
      expect(closed.body.error).toMatchObject({
        code: 'outside_window',
        message: expect.stringMatching(/24-hour/),
      });
    } finally {
      clock.advance(-24 * HOUR);
    }
    expect(await svc.counts()).toEqual(counts);
    expect((await svc.outbox()).length).toBe(outbox);
    const listed = await svc.json(`/v1/approvals?conversationId=${encodeURIComponent(`${late.igsid}`)}`);
    expect(listed.body.data).toEqual([]);
    const ofLarry = (await svc.json('/v1/approvals?limit=200')).body.data.filter(
      (a: Any) => a.approver === late.igsid || a.approver === '7777777777',
    );
    expect(ofLarry).toEqual([]);
  });

  it('refuses malformed requests (400) and unknown channels (404)', async () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ title: 'x', expiresInSeconds: undefined }, /expiresInSeconds/],
      [{ title: 'x', expiresInSeconds: 5 }, /expiresInSeconds/],
      [{ title: '' }, /title/],
      [{ title: 'x', approver: 'ada' }, /approver/],
      [{ title: 'x', fields: [{ label: 'a', value: '1', display: 'hidden' }] }, /display/],
      [{ title: 'x', callbackSecret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }, /callbackUrl/],
      [{ title: 'x', callbackUrl: 'ftp://example.com/x' }, /callbackUrl/],
      [{ title: 'x', callbackUrl: 'https://example.com/x', callbackSecret: 'hunter2' }, /callbackSecret/],
      [{ title: 'x', unknown: 1 }, /unknown/],
    ];
    for (const [body, reason] of bad) {
      const r = await ask(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
      expect(r.body.error.message).toMatch(reason);
    }
    const r = await ask({ channelId: 'nope', title: 'x' });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('channel_not_found');
    expect((await svc.json('/v1/approvals/apr_nope')).body.error.code).toBe('approval_not_found');
  });
});

describe('the list, and cancelling', () => {
  it('lists newest first, by status and conversation, a page at a time', async () => {
    const other = await svc.customer({ from: 'Listed Lou', text: 'hi' });
    const made: string[] = [];
    for (const title of ['one', 'two', 'three']) {
      const r = await ask({ approver: other.igsid, title });
      made.push(r.body.id);
    }
    const conversationId = (await svc.json(`/v1/approvals/${made[0]}`)).body.conversationId;
    const first = await svc.json(`/v1/approvals?conversationId=${conversationId}&limit=2`);
    expect(first.body.data.map((a: Any) => a.title)).toEqual(['three', 'two']);
    const second = await svc.json(
      `/v1/approvals?conversationId=${conversationId}&limit=2&cursor=${first.body.nextCursor}`,
    );
    expect(second.body).toMatchObject({ data: [{ title: 'one' }], nextCursor: null });

    const cancelled = await svc.json(`/v1/approvals/${made[1]}/cancel`, { method: 'POST', body: {} });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({
      status: 'cancelled',
      approved: null,
      decidedAt: expect.any(String),
    });
    const again = await svc.json(`/v1/approvals/${made[1]}/cancel`, { method: 'POST', body: {} });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({
      code: 'approval_decided',
      message: expect.stringMatching(/cancelled/),
    });
    const pending = await svc.json(`/v1/approvals?conversationId=${conversationId}&status=pending`);
    expect(pending.body.data.map((a: Any) => a.id)).toEqual([made[2], made[0]]);
    const byChannel = await svc.json('/v1/approvals?channelId=nope');
    expect(byChannel.body.data).toEqual([]);
    expect((await svc.json('/v1/approvals?cursor=nope')).body.error.code).toBe('invalid_cursor');
  });

  it('cannot cancel an approval past its time: it is expired', async () => {
    const made = await ask({ title: 'Quick one', expiresInSeconds: 60 });
    clock.advance(61 * SECOND);
    try {
      const r = await svc.json(`/v1/approvals/${made.body.id}/cancel`, { method: 'POST', body: {} });
      expect(r.status).toBe(409);
      expect(r.body.error).toMatchObject({
        code: 'approval_decided',
        message: expect.stringMatching(/expired/),
      });
      expect((await svc.json(`/v1/approvals/${made.body.id}`)).body.status).toBe('expired');
    } finally {
      clock.advance(-61 * SECOND);
    }
  });

  it('goes with its approver when their data is erased', async () => {
    const gone = await svc.customer({ from: 'Erased Ed', text: 'hi' });
    const made = await ask({ approver: gone.igsid, title: 'Forget me' });
    await allSent();
    const contactId = (await svc.json(`/v1/conversations/${made.body.conversationId}`)).body.contact.id;
    const erased = await until(
      () => svc.json(`/v1/contacts/${contactId}`, { method: 'DELETE' }),
      (r) => r.status !== 409,
      'the erasure',
    );
    expect(erased.status, JSON.stringify(erased.body)).toBe(200);
    expect(erased.body.counts.approvals).toBe(1);
    expect((await svc.json(`/v1/approvals/${made.body.id}`)).status).toBe(404);
  });

  it('answers a secret for the callback once when igdm made it, and never the one given', async () => {
    const made = await ask({ title: 'Signed', callbackUrl: 'https://example.com/hook' });
    expect(made.body.callbackSecret).toMatch(/^whsec_/);
    expect((await svc.json(`/v1/approvals/${made.body.id}`)).body.callbackSecret).toBeUndefined();
    const given = await ask({
      title: 'Signed by us',
      callbackUrl: 'https://example.com/hook',
      callbackSecret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    });
    expect(given.status).toBe(201);
    expect(given.body.callbackSecret).toBeUndefined();
  });
});
