import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACCOUNT,
  Clock,
  type Gateway,
  HOUR,
  type Sandbox,
  startGateway,
  startSandbox,
  writtenCustomer,
} from './support.ts';

// The messaging window (24 h; 7 days with the HUMAN_AGENT tag) on a moved clock, and the per-account
// send rates over a sliding second.

let gateway: Gateway;

beforeAll(async () => {
  gateway = await startGateway();
});
afterAll(async () => {
  await gateway.close();
});

describe('the messaging window', () => {
  const clock = new Clock();
  let sandbox: Sandbox;
  let igsid: string;
  beforeAll(async () => {
    sandbox = await startSandbox(gateway, { now: clock.now });
    igsid = await writtenCustomer(sandbox, 'wanda');
  });
  afterAll(() => sandbox.close());

  const reply = (tagged: boolean) =>
    sandbox.graph('POST', 'me/messages', {
      body: {
        recipient: { id: igsid },
        ...(tagged ? { messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' } : { messaging_type: 'RESPONSE' }),
        message: { text: 'hello' },
      },
    });
  const typing = () =>
    sandbox.graph('POST', 'me/messages', { body: { recipient: { id: igsid }, sender_action: 'typing_on' } });
  const outside = {
    message:
      '(#10) This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview',
    type: 'OAuthException',
    code: 10,
    error_subcode: 2534022,
    error_user_title: 'Message Not Sent',
    error_user_msg: expect.any(String),
    fbtrace_id: expect.any(String),
  };

  it('within 24 h anything goes; from 24 h only HUMAN_AGENT; from 7 d nothing, until the customer writes', async () => {
    const t0 = clock.t;
    clock.t = t0 + 24 * HOUR - 1;
    expect((await reply(false)).status).toBe(200);
    expect((await reply(true)).status).toBe(200);
    expect((await typing()).status).toBe(200);

    clock.t = t0 + 24 * HOUR;
    const late = await reply(false);
    expect(late.status).toBe(400);
    expect(late.body.error).toEqual(outside);
    expect((await typing()).body.error.code).toBe(10);
    expect((await reply(true)).status).toBe(200);

    clock.t = t0 + 7 * 24 * HOUR - 1;
    expect((await reply(true)).status).toBe(200);

    clock.t = t0 + 7 * 24 * HOUR;
    expect((await reply(true)).body.error).toEqual(outside);
    expect((await reply(false)).body.error).toEqual(outside);

    await sandbox.customer({ from: igsid, text: 'back again' });
    expect((await reply(false)).status).toBe(200);
  });

  it('a referral or a postback reopens it; a reaction does not', async () => {
    clock.advance(2 * 24 * HOUR);
    await sandbox.customer({ from: igsid, reaction: { mid: 'aWdfX', reaction: 'love' } });
    expect((await reply(false)).body.error.code).toBe(10);
    await sandbox.customer({ from: igsid, referral: { ref: 'ad' } });
    expect((await reply(false)).status).toBe(200);
    clock.advance(2 * 24 * HOUR);
    await sandbox.customer({ from: igsid, postback: { payload: 'MENU' } });
    expect((await reply(false)).status).toBe(200);
  });
});

describe('rate limits', () => {
  const clock = new Clock();
  let sandbox: Sandbox;
  let igsid: string;
  beforeAll(async () => {
    sandbox = await startSandbox(gateway, { now: clock.now, sendRatePerSecond: 5, mediaRatePerSecond: 2 });
    igsid = await writtenCustomer(sandbox, 'rita');
  });
  afterAll(() => sandbox.close());

  const text = () =>
    sandbox.graph('POST', 'me/messages', { body: { recipient: { id: igsid }, message: { text: 'x' } } });
  const video = () =>
    sandbox.graph('POST', 'me/messages', {
      body: {
        recipient: { id: igsid },
        message: { attachment: { type: 'video', payload: { url: 'https://cdn.example/v.mp4' } } },
      },
    });

  it('over sendRatePerSecond within a sliding second: code 4 with x-business-use-case-usage', async () => {
    for (let i = 0; i < 5; i++) expect((await text()).status).toBe(200);
    const over = await text();
    expect(over.status).toBe(400);
    expect(over.body.error).toMatchObject({
      message: '(#4) Application request limit reached',
      type: 'OAuthException',
      code: 4,
      is_transient: true,
    });
    const usage = JSON.parse(over.headers.get('x-business-use-case-usage')!);
    expect(usage[ACCOUNT][0]).toEqual({
      type: 'instagram',
      call_count: 100,
      total_cputime: 100,
      total_time: 100,
      estimated_time_to_regain_access: 0,
    });
    expect(JSON.parse(over.headers.get('x-app-usage')!).call_count).toBe(100);

    clock.advance(999);
    expect((await text()).body.error.code).toBe(4);
    clock.advance(1);
    expect((await text()).status).toBe(200);
  });

  it('audio and video have their own, lower rate', async () => {
    clock.advance(5000);
    expect((await video()).status).toBe(200);
    expect((await video()).status).toBe(200);
    expect((await video()).body.error.code).toBe(4);
    expect((await text()).status).toBe(200);
    clock.advance(1000);
    expect((await video()).status).toBe(200);
  });

  it('x-app-usage reports the share of the allowance used', async () => {
    clock.advance(5000);
    await text();
    const second = await text();
    expect(JSON.parse(second.headers.get('x-app-usage')!)).toEqual({
      call_count: 40,
      total_time: 40,
      total_cputime: 40,
    });
  });
});
