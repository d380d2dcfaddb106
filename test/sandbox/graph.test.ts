import Fastify from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifySignature } from '../../src/meta/signature.ts';
import { createSandboxState, sandboxPlugin } from '../../src/sandbox/index.ts';
import {
  ACCOUNT,
  Clock,
  type Gateway,
  type Sandbox,
  SECRET,
  startGateway,
  startSandbox,
  TOKEN,
  writtenCustomer,
} from './support.ts';

// The rest of the emulated Graph API: profiles (consent first), stories, the account, token checks,
// ice breakers and persistent menu, attachments, webhook subscriptions, conversation routing; and
// the sandbox inside a gateway's own Fastify app, on the same port.

let gateway: Gateway;
let sandbox: Sandbox;
let igsid: string;
const clock = new Clock();

beforeAll(async () => {
  gateway = await startGateway();
  sandbox = await startSandbox(gateway, { now: clock.now, appId: '555000', pageId: '1010' });
  igsid = await writtenCustomer(sandbox, 'Zoë Öztürk');
});
afterAll(async () => {
  await sandbox.close();
  await gateway.close();
});

const FIELDS =
  'name,username,profile_pic,follower_count,is_user_follow_business,is_business_follow_user,is_verified_user';

describe('profiles and messages', () => {
  it("a customer who wrote: the profile's fields, non-ASCII escaped", async () => {
    const r = await sandbox.graph('GET', igsid, { query: { fields: FIELDS } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      name: 'Zoë Öztürk',
      username: expect.stringMatching(/^zoe\.ozturk_\d\d$/),
      profile_pic: `${sandbox.url}/sandbox/avatars/${igsid}.svg`,
      follower_count: expect.any(Number),
      is_user_follow_business: expect.any(Boolean),
      is_business_follow_user: expect.any(Boolean),
      is_verified_user: expect.any(Boolean),
      id: igsid,
    });
    expect(r.raw).toContain('"name":"Zo\\u00eb \\u00d6zt\\u00fcrk"');
    const pic = await fetch(r.body.profile_pic);
    expect(pic.headers.get('content-type')).toMatch(/image\/svg\+xml/);
    expect(await pic.text()).toContain('>ZÖ<');
  });

  it('someone who never wrote: 230 "User consent is required"', async () => {
    const r = await sandbox.graph('GET', '1234567890123456', { query: { fields: FIELDS } });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({
      message: '(#230) User consent is required to access user profile',
      code: 230,
      error_subcode: 2534014,
    });
    // A customer who only commented has not consented either.
    const c = await sandbox.customer({ from: 'quiet', comment: { text: 'hm' } });
    expect((await sandbox.graph('GET', c.body.igsid, { query: { fields: 'name' } })).body.error.code).toBe(
      230,
    );
  });

  it('an unknown field is code 100', async () => {
    const r = await sandbox.graph('GET', igsid, { query: { fields: 'name,email' } });
    expect(r.body.error).toMatchObject({ code: 100 });
    expect(r.body.error.message).toMatch(/nonexisting field \(email\)/);
  });

  it('a message by mid; a mid without a story has no story field; unknown ids are 100 / 33', async () => {
    const m = await sandbox.customer({ from: igsid, text: 'hello' });
    const r = await sandbox.graph('GET', m.body.mid, {
      query: { fields: 'id,created_time,from,to,message,story' },
    });
    expect(r.body).toEqual({
      id: m.body.mid,
      created_time: '2026-01-15T12:00:00+0000',
      from: { id: igsid, username: expect.any(String) },
      to: { data: [{ id: ACCOUNT, username: 'igdm.sandbox' }] },
      message: 'hello',
    });
    const unknown = await sandbox.graph('GET', 'aWdfNOPE', { query: { fields: 'story' } });
    expect(unknown.body.error).toMatchObject({ code: 100, error_subcode: 33 });
  });
});

describe('the Conversations API', () => {
  // 2 calls/s per account: each test starts in a fresh second, and moves on a second between pairs.
  beforeEach(() => clock.advance(1000));

  it("GET /{account}/conversations?platform=instagram&user_id=, then the conversation's messages, newest first", async () => {
    const sent = await sandbox.graph('POST', 'me/messages', {
      body: { recipient: { id: igsid }, message: { text: 'Thanks for writing' } },
    });
    expect(sent.status).toBe(200);
    const list = await sandbox.graph('GET', `${ACCOUNT}/conversations`, {
      query: { platform: 'instagram', user_id: igsid },
    });
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual([
      { id: expect.stringMatching(/^aWdf/), updated_time: expect.any(String) },
    ]);
    const conversation = await sandbox.graph('GET', list.body.data[0].id, { query: { fields: 'messages' } });
    expect(conversation.status).toBe(200);
    const mids = conversation.body.messages.data.map((m: { id: string }) => m.id);
    expect(mids[0]).toBe(sent.body.message_id);
    expect(mids.length).toBeGreaterThanOrEqual(2); // the customer's first message too
    clock.advance(1000);
    const message = await sandbox.graph('GET', mids[0], {
      query: { fields: 'id,created_time,from,message' },
    });
    expect(message.body).toMatchObject({ id: mids[0], from: { id: ACCOUNT }, message: 'Thanks for writing' });
  });

  it('takes 2 calls a second per account: a third is throttled (code 4, access back within the minute)', async () => {
    const list = () =>
      sandbox.graph('GET', `${ACCOUNT}/conversations`, { query: { platform: 'instagram', user_id: igsid } });
    expect((await list()).status).toBe(200);
    expect((await list()).status).toBe(200);
    const third = await list();
    expect(third.status).toBe(400);
    expect(third.body.error).toMatchObject({ code: 4 });
    expect(JSON.parse(third.headers.get('x-business-use-case-usage')!)[ACCOUNT][0]).toMatchObject({
      estimated_time_to_regain_access: 0,
    });
    clock.advance(1000);
    expect((await list()).status).toBe(200);
  });

  it('someone who never wrote has no conversation; platform is required', async () => {
    const none = await sandbox.graph('GET', `${ACCOUNT}/conversations`, {
      query: { platform: 'instagram', user_id: '1789999999' },
    });
    expect(none.body).toEqual({ data: [] });
    const noPlatform = await sandbox.graph('GET', `${ACCOUNT}/conversations`);
    expect(noPlatform.status).toBe(400);
    expect(noPlatform.body.error).toMatchObject({ code: 100 });
  });
});

describe('account and token', () => {
  it('GET /me and /{page-id}', async () => {
    expect((await sandbox.graph('GET', 'me', { query: { fields: 'id,username,name' } })).body).toEqual({
      id: ACCOUNT,
      username: 'igdm.sandbox',
      name: 'igdm Sandbox',
    });
    expect((await sandbox.graph('GET', '1010', { query: { fields: 'id' } })).body).toEqual({ id: '1010' });
  });

  it('GET /debug_token, with the user token or the app token', async () => {
    const r = await sandbox.graph('GET', 'debug_token', { query: { input_token: TOKEN } });
    expect(r.body.data).toMatchObject({ app_id: '555000', is_valid: true, user_id: ACCOUNT });
    const bad = await sandbox.graph('GET', 'debug_token', {
      query: { input_token: 'old' },
      token: `555000|${SECRET}`,
    });
    expect(bad.body.data).toMatchObject({ is_valid: false, error: { code: 190 } });
    expect((await sandbox.graph('GET', 'debug_token')).body.error.code).toBe(100);
  });

  it('an unknown path or version is Meta-shaped', async () => {
    const r = await sandbox.graph('GET', 'me/nothing/here');
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({
      code: 2500,
      message: 'Unknown path components: /v24.0/me/nothing/here',
    });
    const res = await fetch(`${sandbox.graphApiUrl}/latest/me`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(((await res.json()) as { error: { code: number } }).error.code).toBe(2500);
  });

  it('a body that is not JSON is code 100', async () => {
    const res = await fetch(`${sandbox.graphApiUrl}/v24.0/me/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{"recipient":',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: unknown }).error).toMatchObject({ code: 100 });
  });
});

describe('messenger_profile', () => {
  const breakers = (n: number) => [
    {
      locale: 'default',
      call_to_actions: Array.from({ length: n }, (_, i) => ({ question: `Q${i}?`, payload: `P${i}` })),
    },
  ];

  it('sets, reads and deletes ice breakers and the persistent menu', async () => {
    const set = await sandbox.graph('POST', 'me/messenger_profile', {
      query: { platform: 'instagram' },
      body: { platform: 'instagram', ice_breakers: breakers(4) },
    });
    expect(set.body).toEqual({ result: 'success' });
    const menu = [
      { locale: 'default', call_to_actions: [{ type: 'postback', title: 'Talk to us', payload: 'HUMAN' }] },
    ];
    await sandbox.graph('POST', 'me/messenger_profile', { body: { persistent_menu: menu } });
    const got = await sandbox.graph('GET', 'me/messenger_profile', {
      query: { platform: 'instagram', fields: 'ice_breakers,persistent_menu' },
    });
    expect(got.body).toEqual({ data: [{ ice_breakers: breakers(4), persistent_menu: menu }] });
    const del = await sandbox.graph('DELETE', 'me/messenger_profile', {
      query: { platform: 'instagram' },
      body: { fields: ['ice_breakers'] },
    });
    expect(del.body).toEqual({ result: 'success' });
    expect(
      (await sandbox.graph('GET', 'me/messenger_profile', { query: { fields: 'ice_breakers' } })).body,
    ).toEqual({
      data: [],
    });
  });

  it.each([
    ['5 questions', { ice_breakers: breakers(5) }, /at most 4/],
    ['no questions', { ice_breakers: breakers(0) }, /non-empty/],
    [
      'a question without payload',
      { ice_breakers: [{ call_to_actions: [{ question: 'Q?' }] }] },
      /payload\] is required/,
    ],
    ['nothing to set', {}, /Requires one of the params/],
    ['another platform', { platform: 'messenger', ice_breakers: breakers(1) }, /platform/],
    [
      'a menu item of another type',
      { persistent_menu: [{ call_to_actions: [{ type: 'nested', title: 'x' }] }] },
      /web_url, postback/,
    ],
  ])('%s is code 100', async (_name, body, reason) => {
    const r = await sandbox.graph('POST', 'me/messenger_profile', { body });
    expect(r.body.error).toMatchObject({ code: 100 });
    expect(r.body.error.message).toMatch(reason);
  });
});

describe('subscriptions and routing', () => {
  it('subscribed_apps: POST the fields, GET them back, DELETE', async () => {
    expect((await sandbox.graph('GET', `${ACCOUNT}/subscribed_apps`)).body).toEqual({ data: [] });
    const r = await sandbox.graph('POST', `${ACCOUNT}/subscribed_apps`, {
      query: { subscribed_fields: 'messages,messaging_postbacks,message_reactions,comments' },
    });
    expect(r.body).toEqual({ success: true });
    expect((await sandbox.graph('GET', `${ACCOUNT}/subscribed_apps`)).body).toEqual({
      data: [
        {
          id: '555000',
          name: 'igdm sandbox',
          subscribed_fields: ['messages', 'messaging_postbacks', 'message_reactions', 'comments'],
        },
      ],
    });
    const bad = await sandbox.graph('POST', `${ACCOUNT}/subscribed_apps`, {
      query: { subscribed_fields: 'feed' },
    });
    expect(bad.body.error.code).toBe(100);
    expect((await sandbox.graph('DELETE', `${ACCOUNT}/subscribed_apps`)).body).toEqual({ success: true });
  });

  it('pass / take / release / request thread control, and thread_owner', async () => {
    const owner = async () =>
      (await sandbox.graph('GET', 'me/thread_owner', { query: { recipient: igsid } })).body.data[0]
        .thread_owner.app_id;
    expect(await owner()).toBe('555000');
    const pass = await sandbox.graph('POST', 'me/pass_thread_control', {
      body: { recipient: { id: igsid }, target_app_id: '263902037430900', metadata: 'to a human' },
    });
    expect(pass.body).toEqual({ success: true });
    expect(await owner()).toBe('263902037430900');
    expect(
      (await sandbox.graph('POST', 'me/request_thread_control', { body: { recipient: { id: igsid } } })).body,
    ).toEqual({
      success: true,
    });
    expect(await owner()).toBe('263902037430900');
    await sandbox.graph('POST', 'me/take_thread_control', { body: { recipient: { id: igsid } } });
    expect(await owner()).toBe('555000');
    await sandbox.graph('POST', 'me/pass_thread_control', {
      body: { recipient: { id: igsid }, target_app_id: 1 },
    });
    await sandbox.graph('POST', 'me/release_thread_control', { body: { recipient: { id: igsid } } });
    expect(await owner()).toBe('555000');

    const noTarget = await sandbox.graph('POST', 'me/pass_thread_control', {
      body: { recipient: { id: igsid } },
    });
    expect(noTarget.body.error.message).toMatch(/target_app_id/);
    const stranger = await sandbox.graph('POST', 'me/take_thread_control', {
      body: { recipient: { id: '42424242' } },
    });
    expect(stranger.body.error).toMatchObject({ code: 100, error_subcode: 2018001 });
  });

  it('every call is in /sandbox/calls', async () => {
    const calls = (await sandbox.control('GET', '/calls')).body.data;
    expect(calls.at(-1)).toEqual({
      seq: expect.any(Number),
      time: clock.now(), // moved on by the Conversations API tests
      method: 'POST',
      path: '/v24.0/me/take_thread_control',
      edge: 'take_thread_control',
      status: 400,
      failure: null,
    });
  });
});

describe('inside the gateway process', () => {
  it('shares the port with the webhook route; a send and its echo round-trip', async () => {
    const app = Fastify();
    const hooks: { raw: string; signed: boolean }[] = [];
    const state = createSandboxState({
      appSecret: SECRET,
      accessToken: TOKEN,
      accountId: ACCOUNT,
      webhookUrl: () => `http://127.0.0.1:${(app.server.address() as { port: number }).port}/webhooks/meta`,
    });
    await app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
      scope.post('/webhooks/meta', async (req) => {
        const raw = req.body as Buffer;
        hooks.push({
          raw: raw.toString(),
          signed: verifySignature(raw, req.headers['x-hub-signature-256'] as string, SECRET),
        });
        return 'EVENT_RECEIVED';
      });
    });
    let protectedCalls = 0;
    await app.register(sandboxPlugin, {
      prefix: '/sandbox',
      state,
      protectControl: (scope) => {
        scope.addHook('onRequest', async () => {
          protectedCalls++;
        });
      },
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
      const written = await fetch(`${base}/sandbox/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ from: 'lea', text: 'Bonjour ☀️' }),
      }).then((r) => r.json() as Promise<{ igsid: string; delivered: { status: number } }>);
      expect(written.delivered.status).toBe(200);
      expect(hooks[0]).toMatchObject({ signed: true });
      expect(hooks[0]!.raw).toContain('Bonjour \\u2600\\ufe0f');

      const sent = await fetch(`${base}/sandbox/graph/v24.0/me/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ recipient: { id: written.igsid }, message: { text: 'Salut' } }),
      }).then((r) => r.json() as Promise<{ message_id: string }>);
      await state.delivery.settled();
      expect(hooks).toHaveLength(2);
      expect(JSON.parse(hooks[1]!.raw).entry[0].messaging[0].message).toMatchObject({
        mid: sent.message_id,
        is_echo: true,
      });
      // protectControl guards the control routes only, not the Graph API.
      expect(protectedCalls).toBe(1);
    } finally {
      await app.close();
    }
  });
});
