import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversationIdOf } from '../../src/store/ids.ts';
import { callApi, igBody, startTestService, type TestService, textEvent } from '../support/service.ts';
import { storedBytes } from '../support/stored.ts';

// API keys made through the API: shown once and kept hashed; scopes (read, send, admin) and a
// channel limit checked route by route; revoking takes effect at once; a key that belongs to an
// agent records them on what they send. IGDM_API_KEY stays the admin key.

let svc: TestService;

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
type Answer = { status: number; headers: Headers; body: any };

const call = (key: string, method: string, path: string, body?: unknown): Promise<Answer> =>
  callApi(svc, method, path, { key, body });
/** As the admin key (IGDM_API_KEY). */
const admin = (method: string, path: string, body?: unknown): Promise<Omit<Answer, 'headers'>> =>
  svc
    .api(path, {
      method,
      ...(body !== undefined && {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
    })
    .then(async (r) => ({ status: r.status, body: r.status === 204 ? undefined : await r.json() }));

const SHOP = {
  id: 'shop',
  name: 'Shop',
  accountId: '17841400000000333',
  accessToken: 'shop-access-token',
  appSecret: 'shop-app-secret',
  verifyToken: 'shop-verify-token',
  graphApiUrl: 'http://127.0.0.1:9',
};
const DEFAULT_CUSTOMER = '7300000001';
const SHOP_CUSTOMER = '7300000002';
const inDefault = conversationIdOf('default', DEFAULT_CUSTOMER);
const inShop = conversationIdOf('shop', SHOP_CUSTOMER);

/** A key made by the admin with these fields; its secret. */
async function keyWith(fields: Record<string, unknown>): Promise<string> {
  const r = await admin('POST', '/v1/api-keys', { name: 'test key', ...fields });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.key;
}

/** The store's folder, kept across the restart in the first test. */
const dir = mkdtempSync(join(tmpdir(), 'igdm-keys-'));

beforeAll(async () => {
  svc = await startTestService({}, dir);
  expect((await admin('POST', '/v1/channels', SHOP)).status).toBe(201);
  // One customer in each channel.
  expect((await svc.post(igBody([textEvent(DEFAULT_CUSTOMER, 'hello default')]))).status).toBe(200);
  const shopEvent = { ...textEvent(SHOP_CUSTOMER, 'hello shop'), recipient: { id: SHOP.accountId } };
  const posted = await svc.post(igBody([shopEvent], SHOP.accountId), {
    path: '/webhooks/instagram/shop',
    secret: SHOP.appSecret,
  });
  expect(posted.status).toBe(200);
  await svc.settled();
});
afterAll(async () => {
  await svc.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('making and revoking keys', () => {
  it('answers the key once (201), lists keys without it, and keeps only its hash', async () => {
    const made = await admin('POST', '/v1/api-keys', { name: 'CRM', channels: ['shop'] });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({
      id: expect.stringMatching(/^key_/),
      name: 'CRM',
      agent: null,
      channels: ['shop'],
      scopes: ['read', 'send'],
      key: expect.stringMatching(/^igdm_/),
      revokedAt: null,
    });
    expect(made.body.hint).toBe(made.body.key.slice(-4));
    const listed = await admin('GET', '/v1/api-keys');
    const shown = listed.body.data.find((k: { id: string }) => k.id === made.body.id);
    expect(shown).toMatchObject({ name: 'CRM', hint: made.body.hint });
    expect(JSON.stringify(listed.body)).not.toContain(made.body.key);
    await svc.stop();
    // The whole store: SQLite's files, or every row of PostgreSQL's tables.
    const stored = await storedBytes(svc.config.databaseUrl);
    expect(stored.some((s) => s.bytes.includes(made.body.id))).toBe(true);
    for (const { name, bytes } of stored) expect(bytes.includes(made.body.key), name).toBe(false);
    svc = await startTestService({}, dir);
    // ... and it still works after a restart.
    expect((await call(made.body.key, 'GET', '/v1/conversations')).status).toBe(200);
  });

  it('a revoked key is refused at once; a missing or unknown key gets 401 with WWW-Authenticate', async () => {
    const key = await keyWith({});
    expect((await call(key, 'GET', '/v1/conversations')).status).toBe(200);
    const id = (await admin('GET', '/v1/api-keys')).body.data.find((k: { hint: string }) =>
      key.endsWith(k.hint),
    ).id;
    expect((await admin('DELETE', `/v1/api-keys/${id}`)).status).toBe(204);
    const refused = await call(key, 'GET', '/v1/conversations');
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer');
    expect(refused.body.error.code).toBe('unauthorized');
    expect((await admin('DELETE', `/v1/api-keys/${id}`)).status).toBe(404);
    const none = await fetch(`${svc.url}/v1/conversations`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('refuses a key for a channel that does not exist, and bad fields', async () => {
    expect((await admin('POST', '/v1/api-keys', { name: 'x', channels: ['nope'] })).status).toBe(404);
    expect((await admin('POST', '/v1/api-keys', { name: 'x', scopes: ['everything'] })).status).toBe(400);
    expect((await admin('POST', '/v1/api-keys', {})).status).toBe(400);
  });
});

describe('scopes', () => {
  it('read: every GET, nothing that changes anything', async () => {
    const key = await keyWith({ scopes: ['read'] });
    expect((await call(key, 'GET', '/v1/conversations')).status).toBe(200);
    expect((await call(key, 'GET', `/v1/conversations/${inDefault}`)).status).toBe(200);
    expect((await call(key, 'GET', `/v1/conversations/${inDefault}/messages`)).status).toBe(200);
    expect((await call(key, 'GET', '/v1/channels')).status).toBe(200);
    const send = await call(key, 'POST', '/v1/messages', {
      to: DEFAULT_CUSTOMER,
      content: { type: 'text', text: 'hi' },
    });
    expect(send.status).toBe(403);
    expect(send.body.error).toEqual({
      code: 'forbidden',
      message: 'This API key does not have the "send" scope',
    });
    expect((await call(key, 'PATCH', `/v1/conversations/${inDefault}`, { status: 'pending' })).status).toBe(
      403,
    );
    expect((await call(key, 'POST', `/v1/conversations/${inDefault}/handover`, { to: 'human' })).status).toBe(
      403,
    );
  });

  it('send (the default with read): messages and conversation changes, no admin routes', async () => {
    const key = await keyWith({});
    const sent = await call(key, 'POST', '/v1/messages', {
      to: DEFAULT_CUSTOMER,
      content: { type: 'text', text: 'from a send key' },
    });
    expect(sent.status).toBe(202);
    expect((await call(key, 'PATCH', `/v1/conversations/${inDefault}`, { tags: ['vip'] })).status).toBe(200);
    for (const [method, path, body] of [
      ['GET', '/v1/api-keys'],
      ['POST', '/v1/api-keys', { name: 'mine' }],
      ['GET', '/v1/jobs'],
      ['GET', '/v1/jobs/1'],
      ['POST', '/v1/channels', { ...SHOP, id: 'other' }],
      ['PATCH', '/v1/channels/shop', { name: 'renamed' }],
      ['DELETE', '/v1/channels/shop'],
      ['PUT', '/v1/channels/shop/ice-breakers', { iceBreakers: [] }],
      ['DELETE', '/v1/contacts/ct_x'],
    ] as const) {
      const r = await call(key, method, path, body);
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.error.code).toBe('forbidden');
    }
  });

  it('admin: channels, keys and jobs', async () => {
    const key = await keyWith({ scopes: ['admin'] });
    expect((await call(key, 'GET', '/v1/jobs')).status).toBe(200);
    expect((await call(key, 'GET', '/v1/api-keys')).status).toBe(200);
    expect((await call(key, 'PATCH', '/v1/channels/shop', { name: 'Shop, renamed' })).status).toBe(200);
    // Admin alone does not send or read.
    expect((await call(key, 'GET', '/v1/conversations')).status).toBe(403);
  });
});

describe('a key limited to channels', () => {
  it("sees only its channels' conversations, messages and channels, in every route", async () => {
    const key = await keyWith({ channels: ['shop'] });
    const list = await call(key, 'GET', '/v1/conversations');
    expect(list.body.data.map((c: { id: string }) => c.id)).toEqual([inShop]);
    const filtered = await call(key, 'GET', '/v1/conversations?channelId=default');
    expect(filtered.body.data).toEqual([]);
    expect((await call(key, 'GET', `/v1/conversations/${inShop}`)).status).toBe(200);
    expect((await call(key, 'GET', `/v1/conversations/${inShop}/messages`)).status).toBe(200);
    for (const [method, path, body] of [
      ['GET', `/v1/conversations/${inDefault}`],
      ['GET', `/v1/conversations/${inDefault}/messages`],
      ['PATCH', `/v1/conversations/${inDefault}`, { status: 'resolved' }],
      ['POST', `/v1/conversations/${inDefault}/handover`, { to: 'human' }],
    ] as const) {
      const r = await call(key, method, path, body);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.body.error.code).toBe('conversation_not_found');
    }
    // The other channel's conversation was not changed.
    expect((await admin('GET', `/v1/conversations/${inDefault}`)).body.status).toBe('open');

    const messages = (await admin('GET', `/v1/conversations/${inDefault}/messages`)).body.data;
    const hidden = await call(key, 'GET', `/v1/messages/${messages[0].id}`);
    expect(hidden.status).toBe(404);
    const send = await call(key, 'POST', '/v1/messages', {
      channelId: 'default',
      to: DEFAULT_CUSTOMER,
      content: { type: 'text', text: 'not mine' },
    });
    expect(send.status).toBe(404);
    expect(send.body.error.code).toBe('channel_not_found');

    const channels = await call(key, 'GET', '/v1/channels');
    expect(channels.body.data.map((c: { id: string }) => c.id)).toEqual(['shop']);
    expect((await call(key, 'GET', '/v1/channels/default')).status).toBe(404);
    expect((await call(key, 'GET', '/v1/channels/shop')).status).toBe(200);
  });
});

describe('a key that belongs to an agent', () => {
  it('records the agent on what they send, as a human reply', async () => {
    const key = await keyWith({ agent: 'Maria' });
    const sent = await call(key, 'POST', '/v1/messages', {
      to: DEFAULT_CUSTOMER,
      content: { type: 'text', text: 'Maria here' },
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    expect(sent.body).toMatchObject({ author: 'human', agent: 'Maria' });
    expect((await admin('GET', `/v1/messages/${sent.body.id}`)).body).toMatchObject({ agent: 'Maria' });
    // A key without an agent: nobody's.
    const other = await call(await keyWith({}), 'POST', '/v1/messages', {
      to: DEFAULT_CUSTOMER,
      content: { type: 'text', text: 'from a system' },
    });
    expect(other.body).toMatchObject({ author: 'api', agent: null });
  });
});
