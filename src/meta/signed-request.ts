import { createHmac, timingSafeEqual } from 'node:crypto';

// Meta's signed_request (the data deletion callback, deauthorisation): base64url(signature) "."
// base64url(JSON payload), the signature being HMAC-SHA256 of the encoded payload (the text after
// the dot, as received) with the app secret. The payload names its algorithm ("HMAC-SHA256") and
// the person (`user_id`, app-scoped: the IGSID for Instagram).

export interface SignedRequestPayload {
  algorithm: string;
  user_id: string;
  issued_at?: number;
  [key: string]: unknown;
}

export type SignedRequest =
  | { ok: true; payload: SignedRequestPayload }
  /** Why it is refused, said to the caller (no secret in it). */
  | { ok: false; reason: string };

/** Signs a payload as Meta does (the sandbox and the tests make requests with it). */
export function signRequest(payload: object, secret: string): string {
  const encoded = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${createHmac('sha256', secret).update(encoded).digest('base64url')}.${encoded}`;
}

/** The two parts, or why not. */
function split(signed: string): { signature: Buffer; encoded: string } | null {
  const parts = signed.trim().split('.');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return null;
  // base64url, with or without padding (Meta's has none; some libraries add it).
  if (!/^[A-Za-z0-9_-]+=*$/.test(parts[0]) || !/^[A-Za-z0-9_-]+=*$/.test(parts[1])) return null;
  return { signature: Buffer.from(parts[0], 'base64url'), encoded: parts[1] };
}

/** Whether `signed` has the shape of a signed request (two base64url parts). */
export const looksSigned = (signed: string): boolean => split(signed) !== null;

/** Whether `signed` is signed with `secret` (timing-safe). */
export function signedWith(signed: string, secret: string): boolean {
  const s = split(signed);
  if (!s || !secret) return false;
  const expected = createHmac('sha256', secret).update(s.encoded).digest();
  return s.signature.length === expected.length && timingSafeEqual(s.signature, expected);
}

/** The payload of a signed request already verified (signedWith), checked field by field. */
export function readSignedRequest(signed: string): SignedRequest {
  const s = split(signed);
  if (!s) return { ok: false, reason: 'is not <signature>.<payload> in base64url' };
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(s.encoded, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'has a payload that is not JSON' };
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    return { ok: false, reason: 'has a payload that is not a JSON object' };
  const p = payload as Record<string, unknown>;
  if (typeof p.algorithm !== 'string' || p.algorithm.toUpperCase() !== 'HMAC-SHA256')
    return { ok: false, reason: 'must name the algorithm HMAC-SHA256' };
  const userId = typeof p.user_id === 'number' ? String(p.user_id) : p.user_id;
  if (typeof userId !== 'string' || !/^\d{1,30}$/.test(userId))
    return { ok: false, reason: 'has no user_id (a numeric id)' };
  return { ok: true, payload: { ...p, algorithm: p.algorithm, user_id: userId } };
}
