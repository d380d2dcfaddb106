import { createHmac, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook, WebhookVerificationError } from '@igdm/sdk';
import { describe, expect, it } from 'vitest';

// verifyWebhook as a receiver of igdm's webhooks uses it: the Standard Webhooks scheme, checked
// against the specification's published test vector and against deliveries signed here as the
// specification says.

// The Standard Webhooks specification's test vector.
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const AT = VECTOR.timestamp * 1000;
const vectorHeaders = (signature = VECTOR.signature, timestamp = String(VECTOR.timestamp)) => ({
  'webhook-id': VECTOR.id,
  'webhook-timestamp': timestamp,
  'webhook-signature': signature,
});

/** Signs as the specification says: HMAC-SHA256 of "id.timestamp.body", keyed by the decoded secret. */
function sign(secret: string, id: string, timestamp: number, body: string) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

const failure = (verify: () => unknown) => {
  try {
    verify();
  } catch (err) {
    expect(err).toBeInstanceOf(WebhookVerificationError);
    return (err as WebhookVerificationError).reason;
  }
  return expect.unreachable('verified');
};

describe('verifyWebhook', () => {
  it("accepts the specification's test vector and answers the parsed payload", () => {
    expect(verifyWebhook(VECTOR.body, vectorHeaders(), VECTOR.secret, { now: AT })).toEqual({
      test: 2432232314,
    });
    // The raw bytes, and fetch's Headers, as a receiver gets them.
    const headers = new Headers(vectorHeaders());
    expect(verifyWebhook(Buffer.from(VECTOR.body), headers, VECTOR.secret, { now: AT })).toEqual({
      test: 2432232314,
    });
  });

  it('accepts a delivery when any one of several signatures matches (a secret being rotated)', () => {
    const other = sign(
      `whsec_${randomBytes(32).toString('base64')}`,
      VECTOR.id,
      VECTOR.timestamp,
      VECTOR.body,
    );
    const headers = vectorHeaders(`${other} v1a,bm90IHRoaXMgc2NoZW1l ${VECTOR.signature}`);
    expect(verifyWebhook(VECTOR.body, headers, VECTOR.secret, { now: AT })).toEqual({ test: 2432232314 });
  });

  it('refuses a changed body, id or timestamp, and another secret', () => {
    const now = { now: AT };
    expect(failure(() => verifyWebhook('{"test": 2432232315}', vectorHeaders(), VECTOR.secret, now))).toBe(
      'invalid_signature',
    );
    expect(
      failure(() =>
        verifyWebhook(VECTOR.body, { ...vectorHeaders(), 'webhook-id': 'msg_other' }, VECTOR.secret, now),
      ),
    ).toBe('invalid_signature');
    expect(
      failure(() =>
        verifyWebhook(VECTOR.body, vectorHeaders(VECTOR.signature, '1614265331'), VECTOR.secret, now),
      ),
    ).toBe('invalid_signature');
    const stranger = `whsec_${randomBytes(24).toString('base64')}`;
    expect(failure(() => verifyWebhook(VECTOR.body, vectorHeaders(), stranger, now))).toBe(
      'invalid_signature',
    );
    // A signature of another version, or the bare base64, is not a v1 signature.
    expect(
      failure(() => verifyWebhook(VECTOR.body, vectorHeaders(VECTOR.signature.slice(3)), VECTOR.secret, now)),
    ).toBe('invalid_signature');
  });

  it('refuses a timestamp more than 5 minutes from the clock either way (replays)', () => {
    const at = (seconds: number) => ({ now: AT + seconds * 1000 });
    expect(verifyWebhook(VECTOR.body, vectorHeaders(), VECTOR.secret, at(300))).toEqual({ test: 2432232314 });
    expect(failure(() => verifyWebhook(VECTOR.body, vectorHeaders(), VECTOR.secret, at(301)))).toBe(
      'timestamp_too_old',
    );
    expect(verifyWebhook(VECTOR.body, vectorHeaders(), VECTOR.secret, at(-300))).toEqual({
      test: 2432232314,
    });
    expect(failure(() => verifyWebhook(VECTOR.body, vectorHeaders(), VECTOR.secret, at(-301)))).toBe(
      'timestamp_too_new',
    );
    // The real clock: the vector is from 2021.
    expect(failure(() => verifyWebhook(VECTOR.body, vectorHeaders(), VECTOR.secret))).toBe(
      'timestamp_too_old',
    );
    expect(
      failure(() =>
        verifyWebhook(VECTOR.body, vectorHeaders(VECTOR.signature, 'soon'), VECTOR.secret, at(0)),
      ),
    ).toBe('invalid_timestamp');
  });

  it('refuses a delivery without its headers, and a secret that is not whsec_ base64', () => {
    const { 'webhook-signature': _, ...unsigned } = vectorHeaders();
    expect(failure(() => verifyWebhook(VECTOR.body, unsigned, VECTOR.secret, { now: AT }))).toBe(
      'missing_headers',
    );
    expect(failure(() => verifyWebhook(VECTOR.body, vectorHeaders(), 'whsec_not base64!', { now: AT }))).toBe(
      'invalid_secret',
    );
  });

  it('refuses a correctly signed body that is not JSON', () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const headers = vectorHeaders(sign(secret, VECTOR.id, VECTOR.timestamp, 'not json'));
    expect(failure(() => verifyWebhook('not json', headers, secret, { now: AT }))).toBe('invalid_payload');
  });

  it('verifies an event POSTed to a Node receiver, from its raw body and req.headers', async () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const event = {
      id: 'evt_1',
      event: 'message.received',
      createdAt: new Date().toISOString(),
      channelId: 'default',
      data: { text: 'Olá! Quanto custa a caneca azul? ☕' },
    };
    const verdicts: unknown[] = [];
    const server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      try {
        verdicts.push(verifyWebhook(Buffer.concat(chunks), req.headers, secret));
        res.writeHead(204).end();
      } catch (err) {
        verdicts.push((err as WebhookVerificationError).reason);
        res.writeHead(400).end();
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const body = JSON.stringify(event);
      const timestamp = Math.floor(Date.now() / 1000);
      const headers = {
        'content-type': 'application/json',
        'webhook-id': event.id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': sign(secret, event.id, timestamp, body),
      };
      expect((await fetch(url, { method: 'POST', headers, body })).status).toBe(204);
      // The same delivery re-serialised (as a framework's JSON parser would) no longer matches.
      const reformatted = JSON.stringify(event, null, 2);
      expect((await fetch(url, { method: 'POST', headers, body: reformatted })).status).toBe(400);
      expect(verdicts).toEqual([event, 'invalid_signature']);
    } finally {
      server.close();
    }
  });
});
