import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversationIdOf } from '../../src/store/ids.ts';
import { type HookReceiver, startHookReceiver } from '../engine/flow/support.ts';
import { until } from '../send/support.ts';
import {
  ACCOUNT_ID,
  callApi,
  igBody,
  startTestService,
  type TestService,
  textEvent,
} from '../support/service.ts';

// A key limited to channels, route by route: every /v1 operation of the API's own document is in
// the table below (a new route fails this test until it is), called on what belongs to another
// channel. It is hidden (404), left out of lists, or refused (403: the route is about every
// channel); and nothing of the other channel changed. What belongs to no channel (the key itself,
// the team's saved replies) is answered as to any key.

let svc: TestService;
let hooks: HookReceiver;

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
type Any = any;

const call = (key: string, method: string, path: string, body?: unknown, contentType?: string) =>
  callApi(svc, method, path, { key, body, ...(contentType && { contentType }) });
const admin = (method: string, path: string, body?: unknown) => callApi(svc, method, path, { body });

const SHOP = {
  id: 'shop',
  name: 'Shop',
  accountId: '17841400000000444',
  accessToken: 'shop-access-token',
  appSecret: 'shop-app-secret',
  verifyToken: 'shop-verify-token',
  graphApiUrl: 'http://127.0.0.1:9',
};
const OTHER_CUSTOMER = '7400000001';
const SHOP_CUSTOMER = '7400000002';
const theirs = conversationIdOf('default', OTHER_CUSTOMER);
/** A comment on the default channel's media. */
const OTHER_COMMENT = '17900000000000777';
const mine = conversationIdOf('shop', SHOP_CUSTOMER);

/** What belongs to the default channel, which the limited key does not see. */
const other = {} as {
  contactId: string;
  messageId: string;
  keyId: string;
  endpointId: string;
  deliveryId: string;
  jobId: number;
  mediaId: string;
  approvalId: string;
};
/** The team's saved replies, which belong to no channel. */
const team = {} as { replyId: string; doomedReplyId: string };
let limited: string;

beforeAll(async () => {
  svc = await startTestService();
  hooks = await startHookReceiver();
  expect((await admin('POST', '/v1/channels', SHOP)).status).toBe(201);
  const endpoint = await admin('POST', '/v1/webhook-endpoints', {
    url: hooks.url,
    events: ['message.received'],
  });
  other.endpointId = endpoint.body.id;
  expect((await svc.post(igBody([textEvent(OTHER_CUSTOMER, 'hello default')]))).status).toBe(200);
  const shopEvent = { ...textEvent(SHOP_CUSTOMER, 'hello shop'), recipient: { id: SHOP.accountId } };
  expect(
    (
      await svc.post(igBody([shopEvent], SHOP.accountId), {
        path: '/webhooks/instagram/shop',
        secret: SHOP.appSecret,
      })
    ).status,
  ).toBe(200);
  // A comment on each channel's media.
  const commentOn = (accountId: string, id: string) => ({
    object: 'instagram',
    entry: [
      {
        id: accountId,
        time: Math.floor(Date.now() / 1000),
        changes: [
          { field: 'comments', value: { id, text: 'nice', from: { id: '7400000009', username: 'x' } } },
        ],
      },
    ],
  });
  expect((await svc.post(commentOn(ACCOUNT_ID, OTHER_COMMENT))).status).toBe(200);
  expect(
    (
      await svc.post(commentOn(SHOP.accountId, '17900000000000778'), {
        path: '/webhooks/instagram/shop',
        secret: SHOP.appSecret,
      })
    ).status,
  ).toBe(200);
  await svc.settled();
  const conversation = (await admin('GET', `/v1/conversations/${theirs}`)).body;
  other.contactId = conversation.contact.id;
  other.messageId = (await admin('GET', `/v1/conversations/${theirs}/messages`)).body.data[0].id;
  other.keyId = (await admin('POST', '/v1/api-keys', { name: 'everything' })).body.id;
  const approval = await admin('POST', '/v1/approvals', {
    channelId: 'default',
    approver: OTHER_CUSTOMER,
    title: 'Refund',
    expiresInSeconds: 3600,
  });
  expect(approval.status, JSON.stringify(approval.body)).toBe(201);
  other.approvalId = approval.body.id;
  other.jobId = (await admin('GET', '/v1/jobs')).body.data[0].id;
  // A kept copy of a picture the other channel's customer sent (media/keeper.ts makes them).
  other.mediaId = 'med_of_the_default_channel';
  const file = join(svc.dir, 'picture.png');
  writeFileSync(file, 'png');
  await svc.store.db
    .insertInto('keptMedia')
    .values({
      id: other.mediaId,
      channelId: 'default',
      conversationId: theirs,
      messageId: other.messageId,
      attachmentIndex: 0,
      status: 'kept',
      file,
      contentType: 'image/png',
      bytes: 3,
      error: null,
      createdAt: Date.now(),
    })
    .execute();
  const deliveries = await until(
    () => admin('GET', `/v1/webhook-endpoints/${other.endpointId}/deliveries`),
    (r) => r.body.data.length === 2,
    'both channels delivered',
  );
  other.deliveryId = deliveries.body.data.find((d: Any) => d.channelId === 'default').id;
  team.replyId = (
    await admin('POST', '/v1/saved-replies', { shortcut: 'hours', text: 'We open at 9' })
  ).body.id;
  team.doomedReplyId = (
    await admin('POST', '/v1/saved-replies', { shortcut: 'old', text: 'Old news' })
  ).body.id;
  const key = await admin('POST', '/v1/api-keys', {
    name: 'shop only',
    channels: ['shop'],
    scopes: ['read', 'send', 'admin'],
  });
  limited = key.body.key;
});
afterAll(async () => {
  await svc.stop();
  await hooks.close();
});

type Expect =
  /** 404: the other channel's does not exist for this key. */
  | { hidden: string }
  /** 403: the route is about every channel. */
  | { refused: true }
  /** 200: a list without any of the other channel's. */
  | { listed: (body: Any) => unknown[] }
  /** 2xx: about no channel; `check` throws if the answer is not what any key would get. */
  | { answered: number; check?: (body: Any) => void };

interface Case {
  body?: unknown;
  /** For a body that is not JSON (an upload). */
  contentType?: string;
  path: () => string;
  expect: Expect;
}

const ids = (body: Any) => body.data.map((x: Any) => x.id ?? x.channelId);

/** Every /v1 operation, as the document names it ("METHOD /v1/path/{id}"). */
const cases: Record<string, Case> = {
  'GET /v1/api-keys': {
    path: () => '/v1/api-keys',
    expect: { listed: (b) => b.data.filter((k: Any) => k.channels?.includes('shop') !== true) },
  },
  'POST /v1/api-keys': {
    path: () => '/v1/api-keys',
    body: { name: 'sneaky', channels: ['default'] },
    expect: { hidden: 'channel_not_found' },
  },
  'DELETE /v1/api-keys/{id}': {
    path: () => `/v1/api-keys/${other.keyId}`,
    expect: { hidden: 'api_key_not_found' },
  },
  'GET /v1/conversations': {
    path: () => '/v1/conversations',
    expect: { listed: (b) => ids(b).filter((id: string) => id !== mine) },
  },
  'GET /v1/conversations/{id}': {
    path: () => `/v1/conversations/${theirs}`,
    expect: { hidden: 'conversation_not_found' },
  },
  'PATCH /v1/conversations/{id}': {
    path: () => `/v1/conversations/${theirs}`,
    body: { status: 'resolved' },
    expect: { hidden: 'conversation_not_found' },
  },
  'POST /v1/conversations/{id}/handover': {
    path: () => `/v1/conversations/${theirs}/handover`,
    body: { to: 'human' },
    expect: { hidden: 'conversation_not_found' },
  },
  'POST /v1/conversations/{id}/read': {
    path: () => `/v1/conversations/${theirs}/read`,
    body: {},
    expect: { hidden: 'conversation_not_found' },
  },
  'POST /v1/conversations/{id}/notes': {
    path: () => `/v1/conversations/${theirs}/notes`,
    body: { text: 'psst' },
    expect: { hidden: 'conversation_not_found' },
  },
  'GET /v1/conversations/{id}/notes': {
    path: () => `/v1/conversations/${theirs}/notes`,
    expect: { hidden: 'conversation_not_found' },
  },
  'GET /v1/conversations/{id}/messages': {
    path: () => `/v1/conversations/${theirs}/messages`,
    expect: { hidden: 'conversation_not_found' },
  },
  'GET /v1/contacts': {
    path: () => '/v1/contacts',
    expect: { listed: (b) => b.data.filter((c: Any) => c.channelId !== 'shop') },
  },
  'GET /v1/contacts/{id}': {
    path: () => `/v1/contacts/${other.contactId}`,
    expect: { hidden: 'contact_not_found' },
  },
  'GET /v1/contacts/{id}/export': {
    path: () => `/v1/contacts/${other.contactId}/export`,
    expect: { hidden: 'contact_not_found' },
  },
  'DELETE /v1/contacts/{id}': {
    path: () => `/v1/contacts/${other.contactId}`,
    expect: { hidden: 'contact_not_found' },
  },
  'POST /v1/messages': {
    path: () => '/v1/messages',
    body: { channelId: 'default', to: OTHER_CUSTOMER, content: { type: 'text', text: 'not mine' } },
    expect: { hidden: 'channel_not_found' },
  },
  'GET /v1/messages/{id}': {
    path: () => `/v1/messages/${other.messageId}`,
    expect: { hidden: 'message_not_found' },
  },
  'GET /v1/media/{id}': { path: () => `/v1/media/${other.mediaId}`, expect: { hidden: 'media_not_found' } },
  'POST /v1/messages/{id}/retry': {
    path: () => `/v1/messages/${other.messageId}/retry`,
    body: {},
    expect: { hidden: 'message_not_found' },
  },
  'GET /v1/jobs': { path: () => '/v1/jobs', expect: { refused: true } },
  'GET /v1/jobs/{id}': { path: () => `/v1/jobs/${other.jobId}`, expect: { refused: true } },
  'POST /v1/jobs/{id}/retry': {
    path: () => `/v1/jobs/${other.jobId}/retry`,
    body: {},
    expect: { refused: true },
  },
  // Events of every channel, and of none (an account no channel has): for keys of every channel.
  'GET /v1/webhook-events': { path: () => '/v1/webhook-events', expect: { refused: true } },
  // The stream is checked on its own below.
  'GET /v1/events': { path: () => '/v1/events', expect: { listed: () => [] } },
  'GET /v1/webhook-endpoints': { path: () => '/v1/webhook-endpoints', expect: { listed: (b) => ids(b) } },
  'POST /v1/webhook-endpoints': {
    path: () => '/v1/webhook-endpoints',
    body: { url: 'http://127.0.0.1:9/x', events: ['*'], channels: ['default'] },
    expect: { hidden: 'channel_not_found' },
  },
  'GET /v1/webhook-endpoints/{id}': {
    path: () => `/v1/webhook-endpoints/${other.endpointId}`,
    expect: { hidden: 'webhook_endpoint_not_found' },
  },
  'PATCH /v1/webhook-endpoints/{id}': {
    path: () => `/v1/webhook-endpoints/${other.endpointId}`,
    body: { enabled: false },
    expect: { hidden: 'webhook_endpoint_not_found' },
  },
  'DELETE /v1/webhook-endpoints/{id}': {
    path: () => `/v1/webhook-endpoints/${other.endpointId}`,
    expect: { hidden: 'webhook_endpoint_not_found' },
  },
  'POST /v1/webhook-endpoints/{id}/rotate-secret': {
    path: () => `/v1/webhook-endpoints/${other.endpointId}/rotate-secret`,
    body: {},
    expect: { hidden: 'webhook_endpoint_not_found' },
  },
  'GET /v1/webhook-endpoints/{id}/deliveries': {
    path: () => `/v1/webhook-endpoints/${other.endpointId}/deliveries`,
    expect: { hidden: 'webhook_endpoint_not_found' },
  },
  'GET /v1/webhook-deliveries': {
    path: () => '/v1/webhook-deliveries',
    expect: { listed: (b) => b.data.filter((d: Any) => d.channelId !== 'shop') },
  },
  'GET /v1/webhook-deliveries/{id}': {
    path: () => `/v1/webhook-deliveries/${other.deliveryId}`,
    expect: { hidden: 'delivery_not_found' },
  },
  'POST /v1/webhook-deliveries/{id}/retry': {
    path: () => `/v1/webhook-deliveries/${other.deliveryId}/retry`,
    body: {},
    expect: { hidden: 'delivery_not_found' },
  },
  'GET /v1/channels': {
    path: () => '/v1/channels',
    expect: { listed: (b) => ids(b).filter((id: string) => id !== 'shop') },
  },
  'POST /v1/channels': {
    path: () => '/v1/channels',
    body: { ...SHOP, id: 'shop2', accountId: '17841400000000445' },
    expect: { refused: true },
  },
  'GET /v1/channels/{id}': { path: () => '/v1/channels/default', expect: { hidden: 'channel_not_found' } },
  'PATCH /v1/channels/{id}': {
    path: () => '/v1/channels/default',
    body: { name: 'renamed' },
    expect: { hidden: 'channel_not_found' },
  },
  'DELETE /v1/channels/{id}': { path: () => '/v1/channels/default', expect: { hidden: 'channel_not_found' } },
  'PUT /v1/channels/{id}/ice-breakers': {
    path: () => '/v1/channels/default/ice-breakers',
    body: { iceBreakers: [] },
    expect: { hidden: 'channel_not_found' },
  },
  'POST /v1/channels/{id}/import': {
    path: () => '/v1/channels/default/import',
    body: {},
    expect: { hidden: 'channel_not_found' },
  },
  'GET /v1/me': {
    path: () => '/v1/me',
    expect: {
      answered: 200,
      check: (b) => expect(b).toMatchObject({ name: 'shop only', channels: ['shop'] }),
    },
  },
  'GET /v1/saved-replies': {
    path: () => '/v1/saved-replies',
    expect: { answered: 200, check: (b) => expect(ids(b)).toContain(team.replyId) },
  },
  'POST /v1/saved-replies': {
    path: () => '/v1/saved-replies',
    body: { shortcut: 'shop-hello', text: 'Hello from the shop' },
    expect: { answered: 201, check: (b) => expect(b.shortcut).toBe('shop-hello') },
  },
  'PATCH /v1/saved-replies/{id}': {
    path: () => `/v1/saved-replies/${team.replyId}`,
    body: { text: 'We open at 10' },
    expect: { answered: 200, check: (b) => expect(b.text).toBe('We open at 10') },
  },
  'DELETE /v1/saved-replies/{id}': {
    path: () => `/v1/saved-replies/${team.doomedReplyId}`,
    expect: { answered: 204 },
  },
  'GET /v1/comments': {
    path: () => '/v1/comments',
    expect: {
      listed: (b) => {
        expect(b.data.map((c: Any) => c.commentId)).toEqual(['17900000000000778']);
        return b.data.filter((c: Any) => c.channelId !== 'shop');
      },
    },
  },
  'GET /v1/comments/{id}': {
    path: () => `/v1/comments/${OTHER_COMMENT}`,
    expect: { hidden: 'comment_not_found' },
  },
  'POST /v1/comments/{id}/replies': {
    path: () => `/v1/comments/${OTHER_COMMENT}/replies`,
    body: { text: 'hi' },
    expect: { hidden: 'comment_not_found' },
  },
  'POST /v1/comments/{id}/hide': {
    path: () => `/v1/comments/${OTHER_COMMENT}/hide`,
    body: {},
    expect: { hidden: 'comment_not_found' },
  },
  'DELETE /v1/comments/{id}': {
    path: () => `/v1/comments/${OTHER_COMMENT}`,
    expect: { hidden: 'comment_not_found' },
  },
  'POST /v1/approvals': {
    path: () => '/v1/approvals',
    body: { channelId: 'default', approver: OTHER_CUSTOMER, title: 'not mine', expiresInSeconds: 3600 },
    expect: { hidden: 'channel_not_found' },
  },
  'GET /v1/approvals': {
    path: () => '/v1/approvals',
    expect: { listed: (b) => b.data.filter((a: Any) => a.channelId !== 'shop') },
  },
  'GET /v1/approvals/{id}': {
    path: () => `/v1/approvals/${other.approvalId}`,
    expect: { hidden: 'approval_not_found' },
  },
  'POST /v1/approvals/{id}/cancel': {
    path: () => `/v1/approvals/${other.approvalId}/cancel`,
    body: {},
    expect: { hidden: 'approval_not_found' },
  },
  'POST /v1/attachments': {
    path: () => '/v1/attachments?channelId=default&type=image',
    body: new Uint8Array([0x89, 0x50, 0x4e, 0x47]),
    contentType: 'image/png',
    expect: { hidden: 'channel_not_found' },
  },
};

describe('a key limited to channels, on every route', () => {
  it('the table names every /v1 operation of /openapi.json', async () => {
    const doc: Any = await (await fetch(`${svc.url}/openapi.json`)).json();
    const operations = Object.entries(doc.paths as Record<string, object>)
      .filter(([path]) => path.startsWith('/v1/'))
      .flatMap(([path, byMethod]) => Object.keys(byMethod).map((m) => `${m.toUpperCase()} ${path}`));
    expect(Object.keys(cases).sort()).toEqual(operations.sort());
  });

  for (const [operation, c] of Object.entries(cases)) {
    if (operation === 'GET /v1/events') continue;
    it(operation, async () => {
      const method = operation.split(' ')[0]!;
      const r = await call(limited, method, c.path(), c.body, c.contentType);
      if ('answered' in c.expect) {
        expect(r.status, JSON.stringify(r.body)).toBe(c.expect.answered);
        c.expect.check?.(r.body);
      } else if ('hidden' in c.expect) {
        expect([r.status, r.body?.error?.code], JSON.stringify(r.body)).toEqual([404, c.expect.hidden]);
      } else if ('refused' in c.expect) {
        expect([r.status, r.body?.error?.code], JSON.stringify(r.body)).toEqual([403, 'forbidden']);
        expect(r.body.error.message).toMatch(/sees only some channels/);
      } else {
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect(c.expect.listed(r.body), JSON.stringify(r.body)).toEqual([]);
      }
    });
  }

  it("GET /v1/events: the stream carries its channels' events only", async () => {
    const abort = new AbortController();
    const res = await fetch(`${svc.url}/v1/events?after=0`, {
      headers: { authorization: `Bearer ${limited}` },
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const deadline = Date.now() + 1000;
    while (!text.includes('hello shop') && Date.now() < deadline) text += (await reader.read()).value ?? '';
    await new Promise((r) => setTimeout(r, 300));
    abort.abort();
    const channels = [...text.matchAll(/"channelId":"([^"]+)"/g)].map((m) => m[1]);
    expect(channels.length).toBeGreaterThan(0);
    expect(new Set(channels)).toEqual(new Set(['shop']));
  });

  it('what it makes stays in its channels, with no more than its scopes; the other channel is unchanged', async () => {
    const made = await call(limited, 'POST', '/v1/api-keys', { name: 'mine' });
    expect(made.status).toBe(201);
    expect(made.body.channels).toEqual(['shop']);
    const reader = await admin('POST', '/v1/api-keys', {
      name: 'reader',
      channels: ['shop'],
      scopes: ['read', 'admin'],
    });
    const escalated = await call(reader.body.key, 'POST', '/v1/api-keys', { name: 'more', scopes: ['send'] });
    expect([escalated.status, escalated.body.error.code]).toEqual([403, 'forbidden']);
    const endpoint = await call(limited, 'POST', '/v1/webhook-endpoints', { url: hooks.url, events: ['*'] });
    expect(endpoint.body.channels).toEqual(['shop']);

    expect((await admin('GET', `/v1/conversations/${theirs}`)).body).toMatchObject({
      status: 'open',
      threadOwner: 'bot',
    });
    expect((await admin('GET', `/v1/conversations/${theirs}/notes`)).body.data).toEqual([]);
    expect((await admin('GET', '/v1/channels/default')).body.name).not.toBe('renamed');
    expect((await admin('GET', `/v1/comments/${OTHER_COMMENT}`)).body).toMatchObject({
      hidden: false,
      deletedAt: null,
    });
    expect((await admin('GET', `/v1/webhook-endpoints/${other.endpointId}`)).body.enabled).toBe(true);
    expect((await admin('GET', `/v1/approvals/${other.approvalId}`)).body.status).toBe('pending');
    expect(
      (await admin('GET', '/v1/api-keys')).body.data.find((k: Any) => k.id === other.keyId).revokedAt,
    ).toBeNull();
  });
});
