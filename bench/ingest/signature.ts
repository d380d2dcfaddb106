// The `X-Hub-Signature-256` check every server in this benchmark performs: HMAC-SHA256 of the raw
// request bytes with the app secret, as lowercase hex after `sha256=`, compared in constant time.
import { createHmac, timingSafeEqual } from 'node:crypto';

export function sign(secret: string, raw: Buffer): string {
  return 'sha256=' + createHmac('sha256', secret).update(raw).digest('hex');
}

export function signatureValid(secret: string, raw: Buffer, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const given = Buffer.from(header.slice(7), 'latin1');
  const expected = Buffer.from(createHmac('sha256', secret).update(raw).digest('hex'), 'latin1');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
