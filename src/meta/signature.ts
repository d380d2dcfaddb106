import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

// Meta signs the raw request bytes: X-Hub-Signature-256: sha256=<hex HMAC-SHA256(body, app secret)>,
// and on older apps also X-Hub-Signature: sha1=<hex>. Verify the bytes as received; re-serialised
// JSON would not match, since Meta escapes non-ASCII and '/' before signing.

export type SignatureAlgorithm = 'sha256' | 'sha1';

export function sign(
  body: Buffer | string,
  secret: string,
  algorithm: SignatureAlgorithm = 'sha256',
): string {
  return `${algorithm}=${createHmac(algorithm, secret).update(body).digest('hex')}`;
}

/** True when `header` (e.g. "sha256=ab12...") is the signature of `body` under `secret`. */
export function verifySignature(
  body: Buffer | string,
  header: string | undefined,
  secret: string,
  algorithm: SignatureAlgorithm = 'sha256',
): boolean {
  if (!header || !secret) return false;
  const prefix = `${algorithm}=`;
  if (!header.startsWith(prefix)) return false;
  const given = Buffer.from(header.slice(prefix.length).trim().toLowerCase(), 'utf8');
  const expected = Buffer.from(createHmac(algorithm, secret).update(body).digest('hex'), 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Whether two secrets (tokens, keys) are equal, in constant time: their digests have one length. */
export function sameSecret(expected: string, given: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(expected), digest(given));
}
