import { describe, expect, it } from 'vitest';
import { sign, verifySignature } from '../../src/meta/signature.ts';

// The test vectors of meta-platform.md.
const VECTORS = [
  {
    secret: "It's a Secret to Everybody",
    body: 'Hello, World!',
    header: 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
  },
  {
    secret: 'my_little_secret',
    body: '{ "id": "realtime_update" }',
    header: 'sha256=2bee603b1bd2b873912ee43469a3b4a377ad70e7f64cbd58ccdbc67eb9a1b37f',
  },
] as const;

describe('webhook signatures', () => {
  it.each(VECTORS)('verifies the sha256 vector for "$body"', ({ secret, body, header }) => {
    expect(sign(body, secret)).toBe(header);
    expect(verifySignature(Buffer.from(body), header, secret)).toBe(true);
    expect(
      verifySignature(Buffer.from(body), header.toUpperCase().replace('SHA256=', 'sha256='), secret),
    ).toBe(true);
  });

  it('verifies the legacy sha1 vector', () => {
    const header = 'sha1=3dca279e731c97c38e3019a075dee9ebbd0a99f0';
    expect(verifySignature('random-signature-body', header, 'my_little_secret', 'sha1')).toBe(true);
    expect(verifySignature('random-signature-body', header, 'my_little_secret', 'sha256')).toBe(false);
  });

  it('refuses a wrong secret, a changed body, a truncated or missing signature', () => {
    const { secret, body, header } = VECTORS[0];
    expect(verifySignature(body, header, 'another secret')).toBe(false);
    expect(verifySignature(`${body} `, header, secret)).toBe(false);
    expect(verifySignature(body, header.slice(0, -2), secret)).toBe(false);
    expect(verifySignature(body, undefined, secret)).toBe(false);
    expect(verifySignature(body, '', secret)).toBe(false);
    expect(verifySignature(body, header.replace('sha256=', ''), secret)).toBe(false);
    expect(verifySignature(body, header, '')).toBe(false);
  });

  it('verifies the bytes as sent: escaped and unescaped JSON of the same value differ', () => {
    const escaped = '{"text":"caf\\u00e9 \\/ ok"}';
    const plain = JSON.stringify(JSON.parse(escaped));
    const header = sign(escaped, 's');
    expect(verifySignature(escaped, header, 's')).toBe(true);
    expect(verifySignature(plain, header, 's')).toBe(false);
  });
});
