import { createHash, randomBytes, randomInt } from 'node:crypto';

// Ids shaped like Meta's: numeric IGSIDs and object ids, base64 message ids, fbtrace ids.

/** A random number of `n` digits (no leading zero), as a string. */
export function digits(n: number): string {
  let s = String(randomInt(1, 10));
  while (s.length < n) s += String(randomInt(0, 10));
  return s;
}

/** A fresh customer IGSID (16 digits). */
export const newIgsid = () => digits(16);

/** The same IGSID for the same name, so "maria" stays one customer across restarts. */
export function igsidFromName(name: string): string {
  const h = createHash('sha256').update(name.trim().toLowerCase()).digest();
  return String((h.readBigUInt64BE(0) % 9_000_000_000_000_000n) + 1_000_000_000_000_000n);
}

/** An Instagram message id: base64 of "ig_item:1:IGMessageID:...", so it starts with "aWdf". */
export const newInboundMid = (accountId: string) =>
  Buffer.from(`ig_item:1:IGMessageID:${accountId}:${digits(39)}`).toString('base64url');

/** The message id the Send API answers with (and the echo carries). */
export const newOutboundMid = () => `m_${randomBytes(24).toString('base64url')}`;

export const newFbtraceId = () => randomBytes(17).toString('base64url');

/** Comment, story, media and attachment ids: 17 digits. */
export const newObjectId = () => digits(17);

/** A CDN-like URL for media a customer sent (Meta's expire; these never resolve). */
export const cdnUrl = (kind = 'ig_messaging_cdn') =>
  `https://lookaside.fbsbx.com/${kind}/?asset_id=${digits(17)}&signature=${randomBytes(24).toString('base64url')}`;
