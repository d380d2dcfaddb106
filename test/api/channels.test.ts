import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/meta/signature.ts';
import { until } from '../send/support.ts';
import { APP_SECRET, igBody, startTestService, type TestService, textEvent } from '../support/service.ts';
import { storedBytes } from '../support/stored.ts';

// Channels through the API: created, listed, changed and deleted over HTTP, on the real store,
// queue and ingest worker. A second channel of another app receives its own webhooks at once; its
// secrets never come back in an answer nor sit in the database file in clear; deleting it stops
// its webhooks and its sends and keeps its conversations.

let svc: TestService;
/** Every answer body of the test run: none may hold a secret. */
const answers: string[] = [];

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.stop());

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
type Answer = { status: number; body: any };

async function call(method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await svc.api(path, {
    method,
    ...(body !== undefined && {
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  });
  const text = await res.text();
  answers.push(text);
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const SHOP = {
  name: 'Shop two',
  accountId: '17841400000000222',
  accessToken: 'shop-two-access-token-Zq81',
  appSecret: 'shop-two-app-secret-Xp27',
  verifyToken: 'shop-two-verify-token-Wn53',
  graphApiUrl: 'http://127.0.0.1:9', // a closed port: its sends fail and are retried
};
/** The id igdm made for another channel of the shop's app. */
let sibling = '';
const SECRETS = [SHOP.accessToken, SHOP.appSecret, SHOP.verifyToken, 'rotated-token-Kv90'];

/** A webhook body for the shop's account, signed with `secret`. */
const post = (igsid: string, text: string, path: string, secret = SHOP.appSecret) =>
  svc.post(igBody([{ ...textEvent(igsid, text), recipient: { id: SHOP.accountId } }], SHOP.accountId), {
    path,
    secret,
  });

describe('create, read, change', () => {
  it('creates a channel (201) with an id igdm makes, and shows which secrets are set, not them', async () => {
    const r = await call('POST', '/v1/channels', {
      ...SHOP,
      name: 'Made up',
      accountId: '17841400000000111',
    });
    expect(r.status).toBe(201);
    sibling = r.body.id;
    expect(r.body).toMatchObject({
      id: expect.stringMatching(/^ch_[A-Za-z0-9_-]+$/),
      name: 'Made up',
      login: 'instagram',
      accountId: '17841400000000111',
      pageId: null,
      graphApiUrl: 'http://127.0.0.1:9',
      graphApiVersion: 'v24.0',
      status: 'ok',
      secrets: { accessToken: true, appSecret: true, verifyToken: true },
    });
    expect((await call('GET', `/v1/channels/${r.body.id}`)).body).toEqual(r.body);
  });

  it('takes the id given; 409 for an id or an account already connected', async () => {
    const r = await call('POST', '/v1/channels', { id: 'shop', ...SHOP });
    expect(r.status).toBe(201);
    expect(r.body.id).toBe('shop');
    const again = await call('POST', '/v1/channels', { id: 'shop', ...SHOP, accountId: '17841400000000333' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('channel_exists');
    const sameAccount = await call('POST', '/v1/channels', { ...SHOP, id: 'other' });
    expect(sameAccount.status).toBe(409);
    expect(sameAccount.body.error.code).toBe('account_in_use');
    const list = await call('GET', '/v1/channels');
    expect(list.body.data.map((c: { id: string }) => c.id)).toEqual(
      expect.arrayContaining(['default', 'shop']),
    );
  });

  it('a Facebook Login channel gets graph.facebook.com; a URL with a version keeps it', async () => {
    const fb = await call('POST', '/v1/channels', {
      ...SHOP,
      id: 'fb',
      accountId: '17841400000000444',
      pageId: '1040000000000444',
      login: 'facebook',
      graphApiUrl: undefined,
    });
    expect(fb.body).toMatchObject({
      login: 'facebook',
      pageId: '1040000000000444',
      graphApiUrl: 'https://graph.facebook.com',
      graphApiVersion: 'v24.0',
    });
    const pinned = await call('PATCH', '/v1/channels/fb', {
      graphApiUrl: 'https://graph.facebook.com/v21.0/',
    });
    expect(pinned.body).toMatchObject({
      graphApiUrl: 'https://graph.facebook.com/v21.0',
      graphApiVersion: 'v21.0',
    });
    expect(
      (await call('PATCH', '/v1/channels/fb', { login: 'instagram', graphApiUrl: null })).body,
    ).toMatchObject({
      login: 'instagram',
      graphApiUrl: 'https://graph.instagram.com',
      graphApiVersion: 'v24.0',
    });
  });

  it('refuses a bad body with 400 invalid_request naming the field, never the value', async () => {
    const cases: unknown[] = [
      { ...SHOP, accountId: 'not-a-number' },
      { ...SHOP, id: 'has spaces' },
      { ...SHOP, login: 'twitter' },
      { ...SHOP, accessToken: undefined },
      { ...SHOP, extra: SHOP.accessToken },
      { ...SHOP, graphApiUrl: 'ftp://x' },
    ];
    for (const body of cases) {
      const r = await call('POST', '/v1/channels', body);
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    }
    expect((await call('PATCH', '/v1/channels/shop', {})).status).toBe(400);
    expect((await call('PATCH', '/v1/channels/shop', { appSecret: 42 })).status).toBe(400);
    const notJson = await call('POST', '/v1/channels', `{"accessToken": "${SHOP.accessToken}"`);
    expect(notJson.status).toBe(400);
    expect((await call('PATCH', '/v1/channels/nope', { name: 'x' })).status).toBe(404);
  });

  it('PATCH changes what it names and keeps the rest', async () => {
    const r = await call('PATCH', '/v1/channels/shop', { name: 'Shop 2' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: 'shop', name: 'Shop 2', accountId: SHOP.accountId, status: 'ok' });
    expect((await call('GET', '/v1/channels/shop')).body.name).toBe('Shop 2');
  });
});

describe('a second channel of another app', () => {
  it('receives webhooks on its own endpoint and on /webhooks/meta, verified with its own secret', async () => {
    const handshake = await fetch(
      `${svc.url}/webhooks/instagram/shop?${new URLSearchParams({
        'hub.mode': 'subscribe',
        'hub.verify_token': SHOP.verifyToken,
        'hub.challenge': 'ch-1',
      })}`,
    );
    expect(handshake.status).toBe(200);
    expect(await handshake.text()).toBe('ch-1');
    // The default channel's token is not the shop's.
    const wrongToken = await fetch(
      `${svc.url}/webhooks/instagram/shop?hub.mode=subscribe&hub.verify_token=test-verify-token&hub.challenge=x`,
    );
    expect(wrongToken.status).toBe(403);

    expect((await post('5550001', 'on its own endpoint', '/webhooks/instagram/shop')).status).toBe(200);
    expect((await post('5550002', 'through meta', '/webhooks/meta')).status).toBe(200);
    // Signed with another app's secret: refused on the channel's endpoint.
    expect((await post('5550003', 'forged', '/webhooks/instagram/shop', APP_SECRET)).status).toBe(403);
    await svc.settled();

    const list = await call('GET', '/v1/conversations?channelId=shop');
    expect(list.body.data.map((c: { igsid: string }) => c.igsid).sort()).toEqual(['5550001', '5550002']);
    const defaults = await call('GET', '/v1/conversations?channelId=default');
    expect(defaults.body.data).toEqual([]);
  });
});

describe('delete', () => {
  it('stops receiving and sending, and keeps the history', async () => {
    await post('5550009', 'hello shop', '/webhooks/meta');
    await svc.settled();
    // The shop's Graph API is a closed port: the send is retried, queued, when the channel goes.
    const sent = await call('POST', '/v1/messages', {
      channelId: 'shop',
      to: '5550009',
      content: { type: 'text', text: 'one moment' },
    });
    expect(sent.status).toBe(202);
    await until(
      async () =>
        svc.store.db
          .selectFrom('outbox')
          .select('attempts')
          .where('messageId', '=', sent.body.id)
          .executeTakeFirst(),
      (o) => Number(o?.attempts) >= 1,
      'a failed try',
    );

    expect((await call('DELETE', '/v1/channels/shop')).status).toBe(204);
    const failed = await until(
      async () => (await call('GET', `/v1/messages/${sent.body.id}`)).body,
      (m) => m.status === 'failed',
      'the queued send fails',
    );
    expect(failed.error).toMatchObject({ reason: 'channel_deleted' });

    expect((await call('GET', '/v1/channels/shop')).status).toBe(404);
    expect((await call('GET', '/v1/channels')).body.data.map((c: { id: string }) => c.id)).not.toContain(
      'shop',
    );
    const more = await call('POST', '/v1/messages', {
      channelId: 'shop',
      to: '5550009',
      content: { type: 'text', text: 'anyone?' },
    });
    expect(more.status).toBe(404);

    // Its webhooks are refused as an unknown channel's, and nothing is stored.
    const before = await svc.eventCount();
    expect((await post('5550009', 'still there?', '/webhooks/instagram/shop')).status).toBe(404);
    expect(await svc.eventCount()).toBe(before);
    // On /webhooks/meta, another channel of its app verifies the signature: the event is kept raw,
    // for no channel (not given to that other channel).
    expect((await post('5550009', 'still there?', '/webhooks/meta')).status).toBe(200);
    await svc.settled();
    const last = await svc.store.db
      .selectFrom('webhookEvents')
      .select('channelId')
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(last.channelId).toBeNull();
    expect((await call('GET', `/v1/conversations?channelId=${sibling}`)).body.data).toEqual([]);

    // The history stays readable.
    const kept = await call('GET', '/v1/conversations?channelId=shop');
    expect(kept.body.data).toHaveLength(3);
    const conversation = kept.body.data.find((c: { igsid: string }) => c.igsid === '5550009');
    const messages = await call('GET', `/v1/conversations/${conversation.id}/messages?order=asc`);
    expect(messages.body.data.map((m: { text: string }) => m.text)).toEqual(['hello shop', 'one moment']);

    // Its id stays taken (the history names it); its account can be connected again.
    expect((await call('POST', '/v1/channels', { id: 'shop', ...SHOP })).status).toBe(409);
    const again = await call('POST', '/v1/channels', { id: 'shop-again', ...SHOP });
    expect(again.status).toBe(201);
    expect((await post('5550010', 'back', '/webhooks/meta')).status).toBe(200);
  });

  it('refuses to delete the environment channel (409) and says how it is removed', async () => {
    const r = await call('DELETE', '/v1/channels/default');
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('default_channel');
    expect(r.body.error.message).toContain('environment');
    expect((await call('DELETE', '/v1/channels/nope')).status).toBe(404);
  });
});

describe('secrets', () => {
  it('set through the API, never in an answer, and not in clear in the database file', async () => {
    await call('POST', '/v1/channels', { ...SHOP, id: 'rotating', accountId: '17841400000000555' });
    await call('PATCH', '/v1/channels/rotating', { accessToken: 'rotated-token-Kv90' });
    await call('PATCH', '/v1/channels/default', { accessToken: 'rotated-token-Kv90' });
    await call('GET', '/v1/channels');
    for (const text of answers) for (const secret of SECRETS) expect(text).not.toContain(secret);

    // Every file of the store (the database, its write-ahead log), byte for byte; on PostgreSQL
    // every row of every table.
    const stored = await storedBytes(svc.config.databaseUrl);
    // (It holds the channels: their accounts are there in clear.)
    expect(stored.some((s) => s.bytes.includes('17841400000000555'))).toBe(true);
    for (const { name, bytes } of stored)
      for (const secret of SECRETS) expect(bytes.includes(secret), `${secret} in ${name}`).toBe(false);
  });

  it('a webhook signed with a channel secret changed through the API is refused at once', async () => {
    await call('PATCH', '/v1/channels/rotating', { appSecret: 'new-app-secret-Jm44' });
    const body = igBody([textEvent('5550020', 'hi')], '17841400000000555');
    const text = JSON.stringify(body);
    const send = (secret: string) =>
      fetch(`${svc.url}/webhooks/instagram/rotating`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(text, secret) },
        body: text,
      });
    expect((await send(SHOP.appSecret)).status).toBe(403);
    expect((await send('new-app-secret-Jm44')).status).toBe(200);
  });
});
