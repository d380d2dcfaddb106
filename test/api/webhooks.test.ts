import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/meta/signature.ts';
import { httpRequest } from '../support/http.ts';
import {
  APP_SECRET,
  igBody,
  startTestService,
  type TestService,
  textEvent,
  VERIFY_TOKEN,
} from '../support/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.stop());

const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string } }).error;

/** Runs a request and asserts it stored nothing. */
async function storesNothing(request: () => Promise<Response>) {
  const before = await svc.eventCount();
  const res = await request();
  expect(await svc.eventCount()).toBe(before);
  return res;
}

describe('GET handshake', () => {
  const url = (path: string, q: Record<string, string>) => `${svc.url}${path}?${new URLSearchParams(q)}`;

  it.each(['/webhooks/meta', '/webhooks/instagram/default'])(
    'answers the exact challenge on %s',
    async (path) => {
      const res = await fetch(
        url(path, { 'hub.mode': 'subscribe', 'hub.verify_token': VERIFY_TOKEN, 'hub.challenge': 'c-123' }),
      );
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('c-123');
    },
  );

  it('refuses a wrong token, a wrong mode or a missing challenge with 403', async () => {
    const queries: Record<string, string>[] = [
      { 'hub.mode': 'subscribe', 'hub.verify_token': 'wrong', 'hub.challenge': 'x' },
      { 'hub.mode': 'unsubscribe', 'hub.verify_token': VERIFY_TOKEN, 'hub.challenge': 'x' },
      { 'hub.mode': 'subscribe', 'hub.verify_token': VERIFY_TOKEN },
      {},
    ];
    for (const q of queries) {
      const res = await fetch(url('/webhooks/meta', q));
      expect(res.status).toBe(403);
      expect((await errorOf(res)).code).toBe('verification_failed');
    }
  });

  it('refuses every near miss of the token with 403, whatever its length or encoding', async () => {
    // The comparison is over digests of one length: no token can make it throw (500).
    for (const token of [
      '',
      VERIFY_TOKEN.slice(0, -1),
      `${VERIFY_TOKEN}x`,
      VERIFY_TOKEN.toUpperCase(),
      `${VERIFY_TOKEN.slice(0, -1)}é`,
      VERIFY_TOKEN.repeat(50),
    ]) {
      const res = await fetch(
        url('/webhooks/meta', { 'hub.mode': 'subscribe', 'hub.verify_token': token, 'hub.challenge': 'x' }),
      );
      expect(res.status).toBe(403);
      expect((await errorOf(res)).code).toBe('verification_failed');
    }
  });

  it('answers 404 for an unknown channel', async () => {
    const res = await fetch(
      url('/webhooks/instagram/nope', {
        'hub.mode': 'subscribe',
        'hub.verify_token': VERIFY_TOKEN,
        'hub.challenge': 'x',
      }),
    );
    expect(res.status).toBe(404);
  });
});

describe('POST deliveries', () => {
  it('stores a signed delivery and answers 200', async () => {
    const before = await svc.eventCount();
    const res = await svc.post(igBody([textEvent('9001', 'hello'), textEvent('9001', 'again')]));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('EVENT_RECEIVED');
    expect(await svc.eventCount()).toBe(before + 2);
  });

  it('acknowledges a signed delivery with no events (an empty entry list) and stores nothing', async () => {
    const before = await svc.eventCount();
    const res = await svc.post({ object: 'instagram', entry: [] });
    expect(res.status).toBe(200);
    expect(await svc.eventCount()).toBe(before);
  });

  it('accepts the per-channel route', async () => {
    const res = await svc.post(igBody([textEvent('9002', 'hi')]), { path: '/webhooks/instagram/default' });
    expect(res.status).toBe(200);
  });

  it('refuses a missing signature with 401 and stores nothing', async () => {
    const res = await storesNothing(() =>
      svc.post(igBody([textEvent('9003', 'x')]), { headers: { 'x-hub-signature-256': '' } }),
    );
    expect(res.status).toBe(401);
    expect((await errorOf(res)).code).toBe('signature_missing');
  });

  it('refuses an unsigned POST with 401 whatever its body, and stores nothing', async () => {
    const bodies: { headers: Record<string, string>; body?: string | Buffer }[] = [
      { headers: {} }, // no body, no content-type
      { headers: { 'content-type': 'application/json' }, body: '' },
      { headers: { 'content-type': 'application/json' }, body: '{"object":' },
      { headers: { 'content-type': 'text/plain' }, body: 'not json' },
      { headers: {}, body: Buffer.from([0xff, 0x00, 0xfe]) },
    ];
    for (const { headers, body } of bodies) {
      const res = await storesNothing(async () => {
        const r = await httpRequest(`${svc.url}/webhooks/meta`, { method: 'POST', headers, body });
        return new Response(r.text, { status: r.status });
      });
      expect(res.status).toBe(401);
      expect((await errorOf(res)).code).toBe('signature_missing');
    }
  });

  it('answers 413 to an unsigned body over 1 MiB, sent with a length or chunked', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 'x');
    const withLength = await httpRequest(`${svc.url}/webhooks/meta`, { method: 'POST', body: big });
    expect(withLength.status).toBe(413);
    expect(JSON.parse(withLength.text).error.code).toBe('body_too_large');
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request(`${svc.url}/webhooks/meta`, { method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 32; i++) req.write(big.subarray(0, 64 * 1024));
      req.end();
    });
    expect(chunked).toBe(413);
  });

  it('verifies a signed empty body: 403 when the signature does not match, 400 when it does', async () => {
    for (const headers of [{}, { 'content-type': 'application/json' }] as Record<string, string>[]) {
      const post = (signature: string) =>
        storesNothing(async () => {
          const r = await httpRequest(`${svc.url}/webhooks/meta`, {
            method: 'POST',
            headers: { ...headers, 'x-hub-signature-256': signature },
          });
          return new Response(r.text, { status: r.status });
        });
      const wrong = await post(sign('{}', APP_SECRET));
      expect(wrong.status).toBe(403);
      expect((await errorOf(wrong)).code).toBe('signature_invalid');
      const right = await post(sign('', APP_SECRET));
      expect(right.status).toBe(400);
      expect((await errorOf(right)).code).toBe('malformed_json');
    }
  });

  it('refuses a wrong signature with 403 and stores nothing', async () => {
    for (const headers of [
      { 'x-hub-signature-256': 'sha256=0000' },
      { 'x-hub-signature-256': sign('{"other":"body"}', APP_SECRET) },
      { 'x-hub-signature-256': 'garbage' },
    ]) {
      const res = await storesNothing(() => svc.post(igBody([textEvent('9004', 'x')]), { headers }));
      expect(res.status).toBe(403);
      expect((await errorOf(res)).code).toBe('signature_invalid');
    }
    const wrongSecret = await storesNothing(() =>
      svc.post(igBody([textEvent('9004', 'x')]), { secret: 'not-it' }),
    );
    expect(wrongSecret.status).toBe(403);
  });

  it('refuses the legacy sha1 header unless the channel allows it', async () => {
    const body = JSON.stringify(igBody([textEvent('9005', 'legacy')]));
    const res = await storesNothing(() =>
      svc.post(body, {
        headers: { 'x-hub-signature-256': '', 'x-hub-signature': sign(body, APP_SECRET, 'sha1') },
      }),
    );
    expect(res.status).toBe(401);
  });

  it('refuses a body over 1 MiB with 413 and stores nothing', async () => {
    const big = JSON.stringify(igBody([textEvent('9006', 'x'.repeat(1024 * 1024))]));
    const res = await storesNothing(() => svc.post(big));
    expect(res.status).toBe(413);
    expect((await errorOf(res)).code).toBe('body_too_large');
  });

  it('refuses malformed JSON with 400 and stores nothing', async () => {
    for (const body of ['{"object":"instagram",', 'not json', '']) {
      const res = await storesNothing(() => svc.post(body));
      expect(res.status).toBe(400);
      expect(await errorOf(res)).toHaveProperty('message');
    }
  });

  it('keeps a valid but unknown shape raw and acknowledges it', async () => {
    const before = await svc.eventCount();
    for (const body of [
      { hello: 'world' },
      [1, 2, 3],
      { object: 'instagram', entry: [{ id: '1', surprise: [] }] },
    ]) {
      expect((await svc.post(body)).status).toBe(200);
    }
    expect(await svc.eventCount()).toBe(before + 3);
    const kept = await svc.store.db
      .selectFrom('webhookEvents')
      .select(['payload', 'kind'])
      .where('kind', '=', 'unknown')
      .execute();
    expect(kept.map((r) => JSON.parse(r.payload))).toEqual(
      expect.arrayContaining([{ hello: 'world' }, [1, 2, 3], { id: '1', surprise: [] }]),
    );
  });

  it('acknowledges and stores page, whatsapp and unknown objects raw', async () => {
    for (const object of ['page', 'whatsapp_business_account', 'something_new']) {
      const body = {
        object,
        entry: [{ id: '42', time: 1, changes: [{ field: 'messages', value: { n: object } }] }],
      };
      expect((await svc.post(body)).status).toBe(200);
      const row = await svc.store.db
        .selectFrom('webhookEvents')
        .select(['payload', 'object'])
        .where('object', '=', object)
        .executeTakeFirstOrThrow();
      expect(JSON.parse(row.payload)).toEqual(body.entry[0]!.changes[0]);
    }
  });

  it('answers 404 for an unknown channel and stores nothing', async () => {
    const res = await storesNothing(() =>
      svc.post(igBody([textEvent('9007', 'x')]), { path: '/webhooks/instagram/nope' }),
    );
    expect(res.status).toBe(404);
  });

  it('keeps the raw bytes Meta signed, escapes included, and unknown fields', async () => {
    const body = `{"object":"instagram","entry":[{"id":"17841400000000001","time":1,"messaging":[{"sender":{"id":"9008"},"recipient":{"id":"17841400000000001"},"timestamp":1700000000123,"message":{"mid":"esc-1","text":"caf\\u00e9 \\/ \\ud83d\\ude00","new_field":{"a":1}}}]}]}`;
    expect((await svc.post(body)).status).toBe(200);
    await svc.settled();
    const row = await svc.store.db
      .selectFrom('messages')
      .select(['text'])
      .where('mid', '=', 'esc-1')
      .executeTakeFirstOrThrow();
    expect(row.text).toBe('café / 😀');
    const raw = await svc.store.db
      .selectFrom('webhookEvents')
      .select('payload')
      .where('dedupKey', '=', 'message:esc-1')
      .executeTakeFirstOrThrow();
    expect(JSON.parse(raw.payload).message.new_field).toEqual({ a: 1 });
  });
});

describe('health', () => {
  it('answers healthz and readyz', async () => {
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${svc.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      store: { ok: true },
      ingest: { ok: true },
      apply: { ok: true, backlog: 0, lagMs: 0 },
      disk: { ok: true, freeBytes: expect.any(Number) },
    });
  });
});

describe('sha1 when allowed', () => {
  it('accepts the legacy header on a channel configured for it', async () => {
    const legacy = await startTestService({ WEBHOOK_ALLOW_SHA1: 'true' });
    try {
      const body = JSON.stringify(igBody([textEvent('9009', 'legacy')]));
      const res = await legacy.post(body, {
        headers: { 'x-hub-signature-256': '', 'x-hub-signature': sign(body, APP_SECRET, 'sha1') },
      });
      expect(res.status).toBe(200);
      expect(await legacy.eventCount()).toBe(1);
      const bad = await legacy.post(body, {
        headers: { 'x-hub-signature-256': '', 'x-hub-signature': 'sha1=00' },
      });
      expect(bad.status).toBe(403);
    } finally {
      await legacy.stop();
    }
  });
});
