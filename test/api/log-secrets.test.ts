import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/meta/signature.ts';
import { freePort, type IgdmProcess, killSpawned, spawnIgdm } from '../support/http.ts';
import { igBody, textEvent } from '../support/service.ts';

// igdm as a real process at LOG_LEVEL=trace, sent every request a client can make with a secret in
// it (valid ones, wrong ones, malformed HTTP whose raw bytes carry the secret, bad JSON, oversized
// bodies). Its output must hold none of the secrets, in any encoding a logger could give them.

const SECRETS = {
  IGDM_API_KEY: 'Ak-9f3Qz7LmW2xR5tYv8',
  WEBHOOK_VERIFY_TOKEN: 'Vt-4hJ8kP1nS6dF0gB3c',
  META_APP_SECRET: 'As-7uI2oE5rT9yW1qZ4x',
  INSTAGRAM_ACCESS_TOKEN: 'At-3mN6bV9cX2zL5kJ8h',
};
/** A channel's secrets given through the API (POST and PATCH /v1/channels). */
const CHANNEL_SECRETS = {
  accessToken: 'Ct-8wE1rT4yU7iO0pA2s',
  appSecret: 'Cs-5dF8gH1jK4lZ7xC0v',
  verifyToken: 'Cv-2bN5mQ8wE1rT4yU7i',
  rotated: 'Cr-6oP9aS2dF5gH8jK1l',
};
const KEY = SECRETS.IGDM_API_KEY;
const TOKEN = SECRETS.WEBHOOK_VERIFY_TOKEN;

/** Substrings that give `secret` away: plain and in every encoding a logger could produce. */
function disguises(secret: string): string[] {
  const bytes = Buffer.from(secret);
  const out = [
    secret,
    [...bytes].join(','),
    [...bytes].join(', '),
    bytes.toString('hex'),
    bytes.toString('hex').toUpperCase(),
    [...secret].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''),
    encodeURIComponent(secret),
  ];
  // Base64 depends on where the secret starts in what was encoded: the part common to all three
  // alignments (the first and last groups of four mix in neighbouring bytes).
  for (let shift = 0; shift < 3; shift++) {
    const padded = Buffer.concat([Buffer.alloc(shift), bytes]);
    for (const encoding of ['base64', 'base64url'] as const) {
      const text = padded.toString(encoding);
      out.push(text.slice(4, -4));
    }
  }
  return out;
}

let igdm: IgdmProcess;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'igdm-logs-'));
  igdm = await spawnIgdm(dir, await freePort(), { ...SECRETS, LOG_LEVEL: 'trace' });
});

afterAll(async () => {
  await killSpawned();
  rmSync(dir, { recursive: true, force: true });
});

/** Writes raw bytes on a fresh connection and resolves with what came back once it closes. */
function raw(bytes: string): Promise<string> {
  const { port } = new URL(igdm.url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), 5_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.end(bytes);
  });
}

describe('secrets in logs', () => {
  it('never writes a secret, in any encoding, even at trace level', async () => {
    const all = Object.values(SECRETS).join('.');
    const bearer = { authorization: `Bearer ${KEY}` };
    const json = { 'content-type': 'application/json' };
    const delivery = JSON.stringify(igBody([textEvent('9100', all)]));
    const signed = (body: string, secret = SECRETS.META_APP_SECRET) => ({
      ...json,
      'x-hub-signature-256': sign(body, secret),
    });
    const post = (headers: Record<string, string>, body: string): RequestInit => ({
      method: 'POST',
      headers,
      body,
    });
    const channel = {
      name: 'Second',
      accountId: '17841400000000002',
      ...CHANNEL_SECRETS,
      rotated: undefined,
    };
    const patch = (body: object): RequestInit => ({
      method: 'PATCH',
      headers: { ...bearer, ...json },
      body: JSON.stringify(body),
    });
    const handshake = (token: string) =>
      `/webhooks/meta?hub.mode=subscribe&hub.verify_token=${token}&hub.challenge=${all}`;
    const requests: [status: number, path: string, init?: RequestInit][] = [
      // The API: valid requests, and the secrets wherever else a client may put them.
      [200, '/v1/conversations', { headers: bearer }],
      [401, '/v1/conversations', { headers: { authorization: `Bearer ${KEY}x` } }],
      [401, `/v1/conversations?api_key=${KEY}`],
      [404, `/v1/conversations/${KEY}`, { headers: bearer }],
      [401, '/v1/conversations', { headers: { 'x-api-key': KEY, cookie: `k=${all}` } }],
      [400, '/v1/messages', post({ ...bearer, ...json }, `{"to":"${all}"`)],
      [
        400,
        '/v1/messages',
        post({ ...bearer, ...json }, JSON.stringify({ to: all, content: { text: all } })),
      ],
      [413, '/v1/messages', post({ ...bearer, ...json }, `{"to":"${all.repeat(16 * 1024)}"}`)],
      [404, `/nowhere/${all}?${all}`, { headers: bearer }],
      // Channels: created, given a new token, sent bad bodies that carry their secrets.
      [201, '/v1/channels', post({ ...bearer, ...json }, JSON.stringify({ id: 'c2', ...channel }))],
      [200, '/v1/channels/c2', patch({ accessToken: CHANNEL_SECRETS.rotated })],
      [200, '/v1/channels/default', patch({ accessToken: CHANNEL_SECRETS.rotated })],
      [400, '/v1/channels/c2', patch({ accessToken: 7, appSecret: all, extra: CHANNEL_SECRETS.rotated })],
      [400, '/v1/channels', post({ ...bearer, ...json }, `{"appSecret":"${CHANNEL_SECRETS.appSecret}"`)],
      [409, '/v1/channels', post({ ...bearer, ...json }, JSON.stringify({ id: 'c2', ...channel }))],
      // The handshake, with the right token and a wrong one.
      [200, handshake(TOKEN)],
      [403, handshake(`${TOKEN}x`)],
      // Webhook deliveries: unsigned, wrongly signed, bad JSON, too big, all carrying the secrets.
      [401, '/webhooks/meta', post(json, delivery)],
      [403, '/webhooks/meta', post(signed(delivery, all), delivery)],
      [400, '/webhooks/meta', post(signed(`{${all}`), `{${all}`)],
      [200, '/webhooks/meta', post(signed(delivery), delivery)],
      [413, '/webhooks/meta', post(json, all.repeat(16 * 1024))],
    ];
    for (const [status, path, init] of requests) {
      const answered = await fetch(`${igdm.url}${path}`, init).then(
        (res) => res.status,
        (err: Error & { cause?: { code?: string } }) => {
          // A body over the limit is refused (413) and the connection closed while it is still being
          // written: the client may see that as EPIPE or a reset instead of the answer.
          if (status === 413 && ['EPIPE', 'ECONNRESET'].includes(err.cause?.code ?? '')) return 413;
          throw err;
        },
      );
      expect(answered, path.slice(0, 60)).toBe(status);
    }

    // Malformed HTTP: Node's parser fails, and the error it hands over carries the raw bytes.
    const answers = await Promise.all([
      raw(
        `GET /v1/conversations?key=${KEY} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nbad header\r\n\r\n`,
      ),
      raw(
        `GET /webhooks/meta?hub.verify_token=${TOKEN} HTTP/1.1\r\nHost: x\r\nX-T: ${all}\r\n\u0001: x\r\n\r\n`,
      ),
      raw(`GET /webhooks/meta?hub.verify_token=${TOKEN}\u0000 HTTP/1.1\r\nHost: x\r\n\r\n`),
      raw(
        `POST /webhooks/meta HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: ${all}\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab`,
      ),
      raw(`POST /webhooks/meta HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${all}\r\n`),
      raw(`GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nX-Big: ${all.repeat(1000)}\r\n\r\n`),
    ]);
    for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 4\d\d /);
    expect(answers.some((a) => a.startsWith('HTTP/1.1 431 '))).toBe(true);
    expect(answers[0]).toContain('{"error":{"code":"bad_request","message":');

    // SIGTERM: igdm logs its shutdown and exits, so everything it wrote has been read.
    igdm.child.kill('SIGTERM');
    expect((await igdm.exited).code).toBe(0);
    const output = igdm.output();
    // The trace level was on, and the malformed requests reached the log (as their error codes).
    expect(output).toMatch(/"level":10,.*"code":"HPE_/);
    const found = Object.entries({ ...SECRETS, ...CHANNEL_SECRETS }).flatMap(([name, secret]) =>
      disguises(secret)
        .filter((disguise) => output.includes(disguise))
        .map((disguise) => `${name} as ${disguise}`),
    );
    expect(found).toEqual([]);
  });
});
