import { createHmac, timingSafeEqual } from 'node:crypto';

// Receiving igdm's outbound webhooks: the Standard Webhooks scheme (www.standardwebhooks.com). The
// sender signs "<webhook-id>.<webhook-timestamp>.<raw body>" with HMAC-SHA256, keyed by the
// base64-decoded part of the endpoint's `whsec_…` secret, and sends `webhook-signature` as one or
// more space-separated `v1,<base64>` entries (several while a secret is being rotated).

/** How far webhook-timestamp may be from the receiver's clock: replays older than this are refused. */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

export type WebhookFailure =
  | 'missing_headers'
  | 'invalid_secret'
  | 'invalid_timestamp'
  | 'timestamp_too_old'
  | 'timestamp_too_new'
  | 'invalid_signature'
  | 'invalid_payload';

export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
  readonly reason: WebhookFailure;
  constructor(reason: WebhookFailure, message: string) {
    super(message);
    this.reason = reason;
  }
}

/** A fetch `Headers`, or Node's `req.headers` (names in lower case). */
export type WebhookHeaders =
  | { get(name: string): string | null }
  | Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  /** The receiver's clock, in milliseconds (default Date.now()). */
  now?: number;
  toleranceSeconds?: number;
}

/**
 * Checks a delivery and answers its parsed JSON. `rawBody` must be the bytes as received (not
 * re-serialised JSON). Throws WebhookVerificationError, whose `reason` says what failed.
 */
export function verifyWebhook<T = unknown>(
  rawBody: string | Uint8Array,
  headers: WebhookHeaders,
  secret: string,
  options: VerifyOptions = {},
): T {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures)
    throw new WebhookVerificationError(
      'missing_headers',
      'webhook-id, webhook-timestamp and webhook-signature are required',
    );

  if (!/^\d+$/.test(timestamp))
    throw new WebhookVerificationError('invalid_timestamp', 'webhook-timestamp is not Unix seconds');
  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  const tolerance = options.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS;
  const sent = Number(timestamp);
  if (nowSeconds - sent > tolerance)
    throw new WebhookVerificationError('timestamp_too_old', 'webhook-timestamp is too old');
  if (sent - nowSeconds > tolerance)
    throw new WebhookVerificationError('timestamp_too_new', 'webhook-timestamp is in the future');

  const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : Buffer.from(rawBody);
  const expected = createHmac('sha256', keyOf(secret)).update(`${id}.${timestamp}.`).update(body).digest();
  if (!signatures.split(' ').some((entry) => matches(entry, expected)))
    throw new WebhookVerificationError('invalid_signature', 'no signature matches the body');

  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch {
    throw new WebhookVerificationError('invalid_payload', 'the body is not JSON');
  }
}

/** One `v1,<base64>` entry; other versions (v1a, asymmetric) are not this scheme's and never match. */
function matches(entry: string, expected: Buffer): boolean {
  const comma = entry.indexOf(',');
  if (comma < 0 || entry.slice(0, comma) !== 'v1') return false;
  const given = Buffer.from(entry.slice(comma + 1), 'base64');
  // timingSafeEqual needs equal lengths; the length of an HMAC is no secret.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function keyOf(secret: string): Buffer {
  const encoded = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  const key = Buffer.from(encoded, 'base64');
  if (encoded === '' || key.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded))
    throw new WebhookVerificationError('invalid_secret', 'the secret is not "whsec_" followed by base64');
  return key;
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof headers.get === 'function')
    return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name] ?? Object.entries(record).find(([k]) => k.toLowerCase() === name)?.[1];
  // A header sent twice arrives as a list in Node: its entries count as one space-separated value.
  return Array.isArray(value) ? value.join(' ') : value;
}
