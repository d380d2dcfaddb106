import { createHmac, randomBytes } from 'node:crypto';

// The Standard Webhooks signature (www.standardwebhooks.com), as Svix and others send it: HMAC-SHA256
// of "<webhook-id>.<webhook-timestamp>.<body>", keyed by the base64-decoded part of a `whsec_…`
// secret, sent as `v1,<base64>`; several space-separated while a secret is being rotated.

const PREFIX = 'whsec_';

/** A new endpoint secret: 24 random bytes. */
export const newSecret = () => `${PREFIX}${randomBytes(24).toString('base64')}`;

/** The HMAC key of a secret: a `whsec_` secret's decoded bytes; any other (a rule's) as UTF-8. */
function keyOf(secret: string): Buffer {
  return secret.startsWith(PREFIX) ? Buffer.from(secret.slice(PREFIX.length), 'base64') : Buffer.from(secret);
}

/** The webhook-signature header for a body, one entry per secret. */
export function signature(secrets: readonly string[], id: string, timestamp: number, body: string): string {
  return secrets
    .map((s) => `v1,${createHmac('sha256', keyOf(s)).update(`${id}.${timestamp}.${body}`).digest('base64')}`)
    .join(' ');
}
