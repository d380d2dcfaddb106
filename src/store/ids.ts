import { createHash } from 'node:crypto';

// The store's ids for what Meta names: a hash of the channel and Meta's id, so that applying an
// event twice (or an echo of igdm's own send) finds the same row.

export const hashId = (prefix: string, ...parts: string[]) =>
  `${prefix}_${createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 22)}`;

export const conversationIdOf = (channelId: string, igsid: string) => hashId('cnv', channelId, igsid);
export const contactIdOf = (channelId: string, igsid: string) => hashId('ct', channelId, igsid);
export const messageIdOf = (channelId: string, mid: string) => hashId('msg', channelId, mid);
