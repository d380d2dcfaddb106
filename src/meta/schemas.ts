// Zod schemas for the wire shapes of Meta's Instagram webhooks (the items inside `entry[].messaging[]`,
// `entry[].standby[]` and `entry[].changes[]`). Every object is loose: keys Meta adds later are kept.
// Ids may arrive as strings or numbers: both are accepted and turned into strings.
// Only normalise.ts should need these; the rest of igdm works on the domain events of events.ts.

import { z } from 'zod';

/** An id Meta sends as a string or a number; always a string after parsing. */
export const idSchema = z.union([z.string(), z.number()]).transform((v) => String(v));

/** A number, or a string of digits (Dashboard test events send `"timestamp":"1527459824"`). */
export const timestampSchema = z.union([
  z.number(),
  z
    .string()
    .regex(/^\d+(\.\d+)?$/)
    .transform((v) => Number(v)),
]);

/**
 * A count Meta sends as a number or as a string of digits (its own `message_edit` examples quote
 * `num_edit`); anything else reads as absent rather than costing the event.
 */
export const countSchema = z
  .unknown()
  .transform((v) =>
    typeof v === 'number' && Number.isFinite(v)
      ? v
      : typeof v === 'string' && /^\d+$/.test(v.trim())
        ? Number(v)
        : undefined,
  );

/** `metadata` of handover events: a string, numbers tolerated. */
const stringishSchema = z.union([z.string(), z.number()]).transform((v) => String(v));

export const partySchema = z.looseObject({ id: idSchema });

// ---------- referral ----------

export const referralSchema = z.looseObject({
  ref: z.string().nullish(),
  source: z.string().nullish(),
  type: z.string().nullish(),
  ad_id: idSchema.nullish(),
});

// ---------- attachments ----------

const urlPayloadSchema = z.looseObject({ url: z.string().optional() });

export const imageAttachmentSchema = z.looseObject({ type: z.literal('image'), payload: urlPayloadSchema });
export const videoAttachmentSchema = z.looseObject({ type: z.literal('video'), payload: urlPayloadSchema });
export const audioAttachmentSchema = z.looseObject({ type: z.literal('audio'), payload: urlPayloadSchema });
export const fileAttachmentSchema = z.looseObject({ type: z.literal('file'), payload: urlPayloadSchema });

/** Shared post or media. Since Nov 2025 post shares carry `ig_post_media_id` and `title` here too. */
export const shareAttachmentSchema = z.looseObject({
  type: z.literal('share'),
  payload: z.looseObject({
    url: z.string().optional(),
    title: z.string().optional(),
    ig_post_media_id: idSchema.optional(),
  }),
});

/** Story payloads: `url`/`id`, or (Dashboard tests, field captures) `story_media_url`/`story_media_id`. */
const storyPayloadSchema = z
  .looseObject({
    url: z.string().nullish(),
    id: idSchema.nullish(),
    story_media_url: z.string().nullish(),
    story_media_id: idSchema.nullish(),
  })
  .nullish();

export const storyMentionAttachmentSchema = z.looseObject({
  type: z.literal('story_mention'),
  payload: storyPayloadSchema,
});

const reelPayloadSchema = z
  .looseObject({
    reel_video_id: idSchema.nullish(),
    title: z.string().nullish(),
    url: z.string().nullish(),
  })
  .nullish();

export const igReelAttachmentSchema = z.looseObject({
  type: z.literal('ig_reel'),
  payload: reelPayloadSchema,
});
export const reelAttachmentSchema = z.looseObject({ type: z.literal('reel'), payload: reelPayloadSchema });

export const igPostAttachmentSchema = z.looseObject({
  type: z.literal('ig_post'),
  payload: z.looseObject({
    ig_post_media_id: idSchema.optional(),
    title: z.string().optional(),
    url: z.string().optional(),
  }),
});

/** View-once media: no url, usually no payload at all. */
export const ephemeralAttachmentSchema = z.looseObject({
  type: z.literal('ephemeral'),
  payload: z.looseObject({}).nullish(),
});

/**
 * A product shared from a shop: `payload.product.elements[]`, each `{id, retailer_id, image_url,
 * title, subtitle}` (subtitle: the price as text). Documented by Meta for Messenger (messages webhook
 * reference, "product template"); Instagram's pages say nothing, field reports show the same shape
 * (see attachments.ts). Checked element by element: one odd element must not cost the others.
 */
export const productElementSchema = z.looseObject({
  id: idSchema,
  retailer_id: idSchema.nullish(),
  image_url: z.string().nullish(),
  title: z.string().nullish(),
  subtitle: z.string().nullish(),
});

/** Echoes of templates the business sent (undocumented, seen in the field), and shared products. */
export const templateAttachmentSchema = z.looseObject({
  type: z.literal('template'),
  payload: z
    .looseObject({
      template_type: z.string().optional(),
      product: z.looseObject({ elements: z.array(z.unknown()) }).optional(),
    })
    .nullish(),
});

/** Undocumented, seen in the field. */
export const igStoryAttachmentSchema = z.looseObject({
  type: z.literal('ig_story'),
  payload: storyPayloadSchema,
});

export const knownAttachmentSchema = z.discriminatedUnion('type', [
  imageAttachmentSchema,
  videoAttachmentSchema,
  audioAttachmentSchema,
  fileAttachmentSchema,
  shareAttachmentSchema,
  storyMentionAttachmentSchema,
  igReelAttachmentSchema,
  reelAttachmentSchema,
  igPostAttachmentSchema,
  ephemeralAttachmentSchema,
  templateAttachmentSchema,
  igStoryAttachmentSchema,
]);

/** Any other type (or a known type in a shape we did not expect): kept with its payload. */
export const otherAttachmentSchema = z.looseObject({
  type: z.string(),
  payload: z.looseObject({}).nullish(),
});

export const attachmentSchema = z.union([knownAttachmentSchema, otherAttachmentSchema]);

// ---------- message ----------

export const replyToSchema = z.union([
  z.looseObject({
    story: z.looseObject({ url: z.string().optional(), id: idSchema.optional() }),
  }),
  z.looseObject({ mid: idSchema }),
]);

export const messageSchema = z.looseObject({
  mid: idSchema,
  text: z.string().nullish(),
  // Each attachment is checked on its own (normalise.ts): one odd attachment must not cost the message.
  attachments: z.array(z.unknown()).optional(),
  quick_reply: z.looseObject({ payload: z.string() }).optional(),
  reply_to: replyToSchema.optional(),
  referral: referralSchema.optional(),
  is_echo: z.boolean().optional(),
  is_deleted: z.boolean().optional(),
  is_unsupported: z.boolean().optional(),
  /** The account messaged itself (sender and recipient are both the business). */
  is_self: z.boolean().optional(),
  app_id: idSchema.optional(),
});

// ---------- other messaging payloads ----------

export const reactionSchema = z.looseObject({
  mid: idSchema,
  action: z.enum(['react', 'unreact']),
  // An unreact sends `"emoji": null`, or nothing at all.
  reaction: z.string().nullish(),
  emoji: z.string().nullish(),
});

/** Instagram gives `mid`; Messenger gives `watermark`. */
export const readSchema = z.looseObject({
  mid: idSchema.optional(),
  watermark: timestampSchema.optional(),
});

export const postbackSchema = z.looseObject({
  mid: idSchema.optional(),
  title: z.string().optional(),
  payload: z.string(),
  referral: referralSchema.optional(),
});

export const messageEditSchema = z.looseObject({
  mid: idSchema,
  text: z.string(),
  num_edit: countSchema.optional(),
});

/** pass / take / release: `previous_owner_app_id` is null when the thread was idle. */
export const threadControlSchema = z.looseObject({
  previous_owner_app_id: idSchema.nullish(),
  new_owner_app_id: idSchema.nullish(),
  metadata: stringishSchema.nullish(),
});

export const requestThreadControlSchema = z.looseObject({
  requested_owner_app_id: idSchema.nullish(),
  metadata: stringishSchema.nullish(),
});

// ---------- messaging items ----------

const envelope = {
  sender: partySchema.optional(),
  recipient: partySchema.optional(),
  // Read by normalise.ts (timestampOf): an odd timestamp is replaced, never a reason to drop the item.
  timestamp: z.unknown().optional(),
};

export const messagingEnvelopeSchema = z.looseObject(envelope);
export const messageItemSchema = z.looseObject({ ...envelope, message: messageSchema });
export const reactionItemSchema = z.looseObject({ ...envelope, reaction: reactionSchema });
export const readItemSchema = z.looseObject({ ...envelope, read: readSchema });
export const postbackItemSchema = z.looseObject({
  ...envelope,
  postback: postbackSchema,
  referral: referralSchema.optional(),
});
export const referralItemSchema = z.looseObject({ ...envelope, referral: referralSchema });
export const messageEditItemSchema = z.looseObject({ ...envelope, message_edit: messageEditSchema });
export const passThreadControlItemSchema = z.looseObject({
  ...envelope,
  pass_thread_control: threadControlSchema,
});
export const takeThreadControlItemSchema = z.looseObject({
  ...envelope,
  take_thread_control: threadControlSchema,
});
export const releaseThreadControlItemSchema = z.looseObject({
  ...envelope,
  release_thread_control: threadControlSchema,
});
export const requestThreadControlItemSchema = z.looseObject({
  ...envelope,
  request_thread_control: requestThreadControlSchema,
});

/** One item of `entry[].messaging[]` or `entry[].standby[]`. */
export const messagingItemSchema = z.union([
  messageItemSchema,
  messageEditItemSchema,
  reactionItemSchema,
  readItemSchema,
  postbackItemSchema,
  passThreadControlItemSchema,
  takeThreadControlItemSchema,
  requestThreadControlItemSchema,
  releaseThreadControlItemSchema,
  referralItemSchema,
]);

// ---------- changes ----------

export const changeSchema = z.looseObject({ field: z.string(), value: z.unknown() });

/** A comment (fields `comments`, `live_comments`): Meta's pages show its id as `id` or `comment_id`. */
export const commentValueSchema = z.looseObject({
  id: idSchema.optional(),
  comment_id: idSchema.optional(),
  text: z.string().optional(),
  from: z.looseObject({ id: idSchema.optional(), username: z.string().optional() }).optional(),
  parent_id: idSchema.optional(),
  media: z.looseObject({ id: idSchema.optional(), media_product_type: z.string().optional() }).optional(),
});

export const mentionValueSchema = z.looseObject({
  media_id: idSchema.optional(),
  comment_id: idSchema.optional(),
});

/** `media_id` plus the metrics (exits, replies, reach, taps_forward, taps_back, impressions, ...). */
export const storyInsightsValueSchema = z.looseObject({ media_id: idSchema.optional() });

// ---------- inferred types ----------

export type WireParty = z.infer<typeof partySchema>;
export type WireReferral = z.infer<typeof referralSchema>;
export type WireAttachment = z.infer<typeof attachmentSchema>;
export type WireKnownAttachment = z.infer<typeof knownAttachmentSchema>;
export type WireReplyTo = z.infer<typeof replyToSchema>;
export type WireMessage = z.infer<typeof messageSchema>;
export type WireReaction = z.infer<typeof reactionSchema>;
export type WireRead = z.infer<typeof readSchema>;
export type WirePostback = z.infer<typeof postbackSchema>;
export type WireMessageEdit = z.infer<typeof messageEditSchema>;
export type WireThreadControl = z.infer<typeof threadControlSchema>;
export type WireRequestThreadControl = z.infer<typeof requestThreadControlSchema>;
export type WireMessagingEnvelope = z.infer<typeof messagingEnvelopeSchema>;
export type WireMessageItem = z.infer<typeof messageItemSchema>;
export type WireReactionItem = z.infer<typeof reactionItemSchema>;
export type WireReadItem = z.infer<typeof readItemSchema>;
export type WirePostbackItem = z.infer<typeof postbackItemSchema>;
export type WireReferralItem = z.infer<typeof referralItemSchema>;
export type WireMessageEditItem = z.infer<typeof messageEditItemSchema>;
export type WireMessagingItem = z.infer<typeof messagingItemSchema>;
export type WireChange = z.infer<typeof changeSchema>;
export type WireCommentValue = z.infer<typeof commentValueSchema>;
export type WireMentionValue = z.infer<typeof mentionValueSchema>;
export type WireStoryInsightsValue = z.infer<typeof storyInsightsValueSchema>;
