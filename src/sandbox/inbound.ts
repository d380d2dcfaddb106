import { z } from 'zod';
import type { Customer } from './customers.ts';
import type { DeliveryResult } from './delivery.ts';
import { cdnUrl, newInboundMid, newObjectId } from './ids.ts';
import type { SandboxState } from './state.ts';
import { changesWebhook, type Json, messagingItem, messagingWebhook, REACTION_EMOJI } from './wire.ts';

// A simulated customer writes: the request says what they did (a text, media, a quick-reply tap, a
// story mention, a shop's product, a reaction, a postback, ...), the sandbox builds the webhook Meta
// would send for it, delivers it signed to the gateway and remembers when the customer last wrote.

const REACTIONS = ['like', 'love', 'laugh', 'wow', 'sad', 'angry', 'other'] as const;
const text = z.string().min(1, 'must not be empty').max(10_000);
const id = z.string().trim().min(1, 'must not be empty').max(1000);

export const CustomerAction = z
  .strictObject({
    /** An IGSID, a known username or name, or a new name; absent: a new customer. */
    from: z.string().trim().max(100).optional(),
    text: text.optional(),
    attachments: z
      .array(
        z.strictObject({
          type: z.string().regex(/^[a-z_]+$/, 'must be an attachment type such as image'),
          url: z.url().optional(),
          /** The whole payload, when a type needs more than a url (ig_reel, ig_post, ...). */
          payload: z.record(z.string(), z.unknown()).optional(),
        }),
      )
      .min(1)
      .max(10)
      .optional(),
    quickReplyPayload: text.optional(),
    storyMention: z.strictObject({ url: z.url().optional(), id: id.optional() }).optional(),
    storyReply: z.strictObject({ url: z.url().optional(), id: id.optional() }).optional(),
    /** A product shared from a shop (text may come with it). */
    product: z
      .strictObject({
        id: id.optional(),
        retailerId: id.optional(),
        name: z.string().min(1).max(1000).optional(),
        price: z.string().min(1).max(100).optional(),
        imageUrl: z.url().optional(),
      })
      .optional(),
    replyTo: id.optional(),
    reaction: z
      .union([
        z.strictObject({
          mid: id,
          action: z.literal('react').optional(),
          reaction: z.enum(REACTIONS),
          emoji: z.string().min(1).max(20).optional(),
        }),
        z.strictObject({ mid: id, action: z.literal('unreact') }),
      ])
      .optional(),
    postback: z.strictObject({ title: z.string().max(1000).optional(), payload: text }).optional(),
    referral: z
      .strictObject({
        ref: z.string().max(1000).optional(),
        source: z.string().optional(),
        type: z.string().optional(),
      })
      .optional(),
    /** The customer saw this message (a `read` event). */
    read: id.optional(),
    /** The customer unsent this message of theirs. */
    unsend: id.optional(),
    /** The customer commented on a post (a `comments` change; answer it with a private reply). */
    comment: z
      .strictObject({
        text,
        mediaId: id.optional(),
        /** On a live video: a `live_comments` change. */
        live: z.boolean().optional(),
        /** A reply to this comment (`parent_id`). */
        parentId: id.optional(),
        /** The comment's id under `comment_id` instead of `id`, as some of Meta's example pages show. */
        idAs: z.enum(['id', 'comment_id']).optional(),
      })
      .optional(),
  })
  .superRefine((a, ctx) => {
    const message = [
      'text',
      'attachments',
      'quickReplyPayload',
      'storyMention',
      'storyReply',
      'replyTo',
      'product',
    ];
    const others = ['reaction', 'postback', 'referral', 'read', 'unsend', 'comment'];
    const given = (keys: string[]) => keys.filter((k) => a[k as keyof typeof a] !== undefined);
    const kinds = given(others).length + (given(message).length > 0 ? 1 : 0);
    if (kinds !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `give exactly one of: a message (text, attachments, quickReplyPayload, storyMention, product), ${others.join(', ')}`,
      });
      return;
    }
    if (a.storyMention && given(message).length > 1)
      ctx.addIssue({ code: 'custom', path: ['storyMention'], message: 'a story mention comes alone' });
    if (a.product && (a.attachments || a.storyMention))
      ctx.addIssue({ code: 'custom', path: ['product'], message: 'a product comes alone, or with text' });
    if (a.text !== undefined && a.attachments)
      ctx.addIssue({
        code: 'custom',
        path: ['attachments'],
        message: 'Instagram delivers text and attachments as separate messages: send two',
      });
    if (
      (a.replyTo || a.storyReply) &&
      a.text === undefined &&
      !a.attachments &&
      a.quickReplyPayload === undefined
    )
      ctx.addIssue({ code: 'custom', path: ['replyTo'], message: 'a reply needs text or attachments' });
    if (a.replyTo && a.storyReply)
      ctx.addIssue({ code: 'custom', path: ['storyReply'], message: 'give replyTo or storyReply, not both' });
  });
export type CustomerAction = z.input<typeof CustomerAction>;

export interface CustomerActionResult {
  /** The new message's mid; for a reaction, read or unsend, the mid it is about; null for a comment. */
  mid: string | null;
  igsid: string;
  username: string;
  /** The comment id, for a comment. */
  commentId?: string;
  /** The exact webhook body delivered. */
  webhook: Json;
  delivered: DeliveryResult;
}

/** Builds, delivers and records what the customer did. Throws a ZodError for a bad action. */
export async function customerActs(state: SandboxState, input: unknown): Promise<CustomerActionResult> {
  const action = CustomerAction.parse(input);
  const customer = state.customers.resolve(action.from);
  const now = state.now();
  const { webhook, mid, commentId, opensWindow } = build(state, customer, action, now);
  if (opensWindow) state.customers.wrote(customer, now);
  asStandbyWhenOwnedElsewhere(state, customer.igsid, webhook);
  const delivered = await state.delivery.deliver('customer', webhook);
  return {
    mid,
    igsid: customer.igsid,
    username: customer.username,
    ...(commentId && { commentId }),
    webhook,
    delivered,
  };
}

/**
 * Conversation routing: while another app owns the thread (it was passed to it), Meta delivers the
 * customer's events to this app under `entry[].standby` instead of `entry[].messaging`.
 */
function asStandbyWhenOwnedElsewhere(state: SandboxState, igsid: string, webhook: Json): void {
  const owner = state.threadOwners.get(igsid);
  if (owner === undefined || owner === state.options.appId) return;
  for (const entry of webhook.entry as Json[]) {
    if (!entry.messaging) continue;
    entry.standby = entry.messaging;
    delete entry.messaging;
  }
}

function build(
  state: SandboxState,
  customer: Customer,
  a: z.output<typeof CustomerAction>,
  now: number,
): { webhook: Json; mid: string | null; commentId?: string; opensWindow: boolean } {
  const account = state.options.accountId;
  const item = (event: Json) =>
    messagingWebhook(account, now, [messagingItem(customer.igsid, account, now, event)]);

  if (a.reaction) {
    const r = a.reaction;
    const reaction =
      r.action === 'unreact'
        ? { mid: r.mid, action: 'unreact' }
        : { mid: r.mid, action: 'react', reaction: r.reaction, emoji: r.emoji ?? REACTION_EMOJI[r.reaction] };
    return { webhook: item({ reaction }), mid: r.mid, opensWindow: false };
  }
  if (a.read) return { webhook: item({ read: { mid: a.read } }), mid: a.read, opensWindow: false };
  if (a.unsend) {
    state.messages.delete(a.unsend);
    return {
      webhook: item({ message: { mid: a.unsend, is_deleted: true } }),
      mid: a.unsend,
      opensWindow: false,
    };
  }
  if (a.referral) {
    const referral = {
      ref: a.referral.ref ?? '',
      source: a.referral.source ?? 'SHORTLINKS',
      type: a.referral.type ?? 'OPEN_THREAD',
    };
    return { webhook: item({ referral }), mid: null, opensWindow: true };
  }
  if (a.comment) {
    const id = newObjectId();
    const mediaId = a.comment.mediaId ?? newObjectId();
    state.comments.set(id, {
      id,
      igsid: customer.igsid,
      time: now,
      text: a.comment.text,
      mediaId,
      repliedAt: null,
      parentId: a.comment.parentId ?? null,
      hidden: false,
      deleted: false,
    });
    const value = {
      from: { id: customer.igsid, username: customer.username },
      media: { id: mediaId, media_product_type: a.comment.live ? 'LIVE' : 'FEED' },
      [a.comment.idAs ?? 'id']: id,
      ...(a.comment.parentId && { parent_id: a.comment.parentId }),
      text: a.comment.text,
    };
    return {
      webhook: changesWebhook(account, now, a.comment.live ? 'live_comments' : 'comments', value),
      mid: null,
      commentId: id,
      opensWindow: false,
    };
  }

  const mid = newInboundMid(account);
  if (a.postback) {
    const postback = { mid, title: a.postback.title ?? a.postback.payload, payload: a.postback.payload };
    state.remember({ mid, igsid: customer.igsid, direction: 'inbound', time: now, text: postback.title });
    return { webhook: item({ postback }), mid, opensWindow: true };
  }

  const message: Json = { mid };
  const remembered: Parameters<SandboxState['remember']>[0] = {
    mid,
    igsid: customer.igsid,
    direction: 'inbound',
    time: now,
  };
  if (a.storyMention) {
    const link = a.storyMention.url ?? state.cdn.link('story_mention');
    message.attachments = [{ type: 'story_mention', payload: { url: link } }];
    remembered.story = { mention: { link, id: a.storyMention.id ?? newObjectId() } };
  } else {
    const textValue = a.text ?? a.quickReplyPayload;
    if (textValue !== undefined) message.text = textValue;
    if (a.attachments) {
      message.attachments = a.attachments.map((att) => ({
        type: att.type,
        payload:
          att.payload ?? (att.type === 'ephemeral' ? {} : { url: att.url ?? state.cdn.link(att.type) }),
      }));
    }
    if (a.product) message.attachments = [productAttachment(a.product)];
    if (a.quickReplyPayload !== undefined) message.quick_reply = { payload: a.quickReplyPayload };
    if (a.replyTo) message.reply_to = { mid: a.replyTo };
    if (a.storyReply)
      message.reply_to = {
        story: { url: a.storyReply.url ?? state.cdn.link('image'), id: a.storyReply.id ?? newObjectId() },
      };
  }
  if (typeof message.text === 'string') remembered.text = message.text;
  if (message.attachments) remembered.attachments = message.attachments as unknown[];
  state.remember(remembered);
  return { webhook: item({ message }), mid, opensWindow: true };
}

/**
 * A product shared from a shop, as Meta's messages webhook gives it: a `template` attachment whose
 * `product.elements` describe it, the price as text in `subtitle` (see meta/attachments.ts).
 */
function productAttachment(p: NonNullable<z.output<typeof CustomerAction>['product']>): Json {
  const element: Json = { id: p.id ?? newObjectId() };
  if (p.retailerId !== undefined) element.retailer_id = p.retailerId;
  element.image_url = p.imageUrl ?? cdnUrl('ig_messaging_cdn');
  element.title = p.name ?? 'Product';
  if (p.price !== undefined) element.subtitle = p.price;
  return { type: 'template', payload: { product: { elements: [element] } } };
}
