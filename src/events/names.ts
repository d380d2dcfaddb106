// The events igdm records (src/events/, store/events.ts), named as seed 002 names them.
export const EVENT_NAMES = [
  'message.received',
  'message.queued',
  'message.sent',
  'message.failed',
  'message.read',
  'message.edited',
  'message.deleted',
  'instagram.reaction',
  'instagram.story_mention',
  'instagram.story_reply',
  'instagram.product_share',
  'instagram.quick_reply',
  'instagram.postback',
  'instagram.referral',
  'conversation.updated',
  'comment.received',
  'channel.health',
  'approval.created',
  'approval.decided',
] as const;

export type EventName = (typeof EVENT_NAMES)[number];
