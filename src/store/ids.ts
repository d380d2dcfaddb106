import { createHash } from 'node:crypto';

// The store's ids of what Meta names by its own ids: the same event always gives the same row, so
// applying an event twice, or replaying the log, finds the row made the first time.

const hashId = (prefix: string, ...parts: string[]) =>
  `${prefix}_${createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 22)}`;

export const conversationIdOf = (channelId: string, igsid: string) => hashId('cnv', channelId, igsid);
export const contactIdOf = (channelId: string, igsid: string) => hashId('ct', channelId, igsid);
export const messageIdOf = (channelId: string, mid: string) => hashId('msg', channelId, mid);
export const commentIdOf = (channelId: string, commentId: string) => hashId('cmt', channelId, commentId);
export const keptMediaIdOf = (messageId: string, index: number) => hashId('med', messageId, String(index));
