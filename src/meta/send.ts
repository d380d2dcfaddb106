import { z } from 'zod';

// What igdm can send, in the SDK's shape (camelCase, as the seed documents' clients write it), and
// the Send API body Meta expects for each. Every limit Meta enforces is checked here first, with
// an error that names the field, so a send Meta would refuse never leaves igdm.

export const LIMITS = {
  textBytes: 1000,
  quickReplies: 13,
  quickReplyTitle: 20,
  quickReplyPayload: 1000,
  templateElements: 10,
  templateTitle: 80,
  templateSubtitle: 80,
  buttons: 3,
  buttonTitle: 20,
  buttonTemplateText: 640,
  postbackPayload: 1000,
} as const;

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const chars = (s: string) => [...s].length;

const https = z
  .string()
  .refine((u) => URL.canParse(u) && new URL(u).protocol === 'https:', 'must be an https:// URL');

// Checked, never rewritten: a trimmed payload would no longer match the one the caller expects back.
const nonEmpty = z.string().refine((s) => s.trim() !== '', 'must not be empty');
const maxChars = (n: number) => nonEmpty.refine((s) => chars(s) <= n, `must be at most ${n} characters`);

const QuickReply = z.strictObject({
  contentType: z.literal('text').default('text'),
  title: maxChars(LIMITS.quickReplyTitle),
  payload: maxChars(LIMITS.quickReplyPayload),
});

const Button = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('web_url'), title: maxChars(LIMITS.buttonTitle), url: https }),
  z.strictObject({
    type: z.literal('postback'),
    title: maxChars(LIMITS.buttonTitle),
    payload: maxChars(LIMITS.postbackPayload),
  }),
]);
const Buttons = z
  .array(Button)
  .min(1, 'must have at least 1 button')
  .max(LIMITS.buttons, `must have at most ${LIMITS.buttons} buttons`);

const Element = z
  .strictObject({
    title: maxChars(LIMITS.templateTitle),
    subtitle: maxChars(LIMITS.templateSubtitle).optional(),
    imageUrl: https.optional(),
    defaultAction: z.strictObject({ type: z.literal('web_url').default('web_url'), url: https }).optional(),
    buttons: Buttons.optional(),
  })
  // Meta: a generic template element needs its title and at least one more field.
  .refine((e) => e.subtitle || e.imageUrl || e.defaultAction || e.buttons, {
    message: 'needs a subtitle, imageUrl, defaultAction or buttons besides its title',
  });

const Media = z
  .strictObject({
    url: https.optional(),
    attachmentId: nonEmpty.optional(),
    isReusable: z.boolean().optional(),
  })
  .refine((m) => (m.url === undefined) !== (m.attachmentId === undefined), {
    message: 'needs exactly one of url or attachmentId',
  });

const media = <T extends 'image' | 'video' | 'audio' | 'file'>(type: T) =>
  z.strictObject({ type: z.literal(type), [type]: Media } as { type: z.ZodLiteral<T> } & Record<
    T,
    typeof Media
  >);

export const Content = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('text'),
    text: nonEmpty.refine(
      (s) => bytes(s) <= LIMITS.textBytes,
      `must be at most ${LIMITS.textBytes} bytes (UTF-8)`,
    ),
    quickReplies: z
      .array(QuickReply)
      .min(1, 'must have at least 1 quick reply')
      .max(LIMITS.quickReplies, `must have at most ${LIMITS.quickReplies} quick replies`)
      .optional(),
  }),
  media('image'),
  media('video'),
  media('audio'),
  media('file'),
  z.strictObject({ type: z.literal('sticker'), sticker: z.strictObject({ id: z.literal('like') }) }),
  z.strictObject({ type: z.literal('media_share'), mediaShare: z.strictObject({ id: nonEmpty }) }),
  z.strictObject({
    type: z.literal('template'),
    template: z.discriminatedUnion('type', [
      z.strictObject({
        type: z.literal('generic'),
        elements: z
          .array(Element)
          .min(1, 'must have at least 1 element')
          .max(LIMITS.templateElements, `must have at most ${LIMITS.templateElements} elements`),
      }),
      z.strictObject({
        type: z.literal('button'),
        text: maxChars(LIMITS.buttonTemplateText),
        buttons: Buttons,
      }),
    ]),
  }),
  z.strictObject({
    type: z.literal('reaction'),
    messageId: nonEmpty,
    /** A reaction to set, or null to remove igdm's reaction. */
    reaction: z.enum(['like', 'love', 'laugh', 'wow', 'sad', 'angry', 'other']).nullable().default('love'),
  }),
  z.strictObject({ type: z.literal('typing'), on: z.boolean().default(true) }),
  z.strictObject({ type: z.literal('mark_seen') }),
]);
export type Content = z.infer<typeof Content>;
export type ContentInput = z.input<typeof Content>;

/** Where a send goes: a customer (IGSID), or a comment (a private reply). */
export type Recipient = { id: string } | { commentId: string };

export interface SendOptions {
  /** Quote a message (`reply_to`). */
  replyTo?: string;
  /** A human agent's reply outside the 24 h window (within 7 days): the HUMAN_AGENT tag. */
  humanAgent?: boolean;
}

/** The JSON body of POST /{ig-id}/messages. */
export interface SendBody {
  recipient: { id: string } | { comment_id: string };
  messaging_type?: 'RESPONSE' | 'MESSAGE_TAG';
  tag?: 'HUMAN_AGENT';
  message?: Record<string, unknown>;
  sender_action?: 'typing_on' | 'typing_off' | 'mark_seen' | 'react' | 'unreact';
  payload?: { message_id: string; reaction?: string };
  reply_to?: { mid: string };
}

export class SendValidationError extends Error {
  readonly issues: { path: string; message: string }[];
  constructor(issues: { path: string; message: string }[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    this.issues = issues;
  }
}

/** Checks content against the SDK shape and Meta's limits; throws SendValidationError naming each field. */
export function parseContent(input: unknown): Content {
  const parsed = Content.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new SendValidationError(parsed.error.issues.flatMap(toIssues));
}

const fieldPath = (path: PropertyKey[]) =>
  path.reduce<string>((p, k) => (typeof k === 'number' ? `${p}[${k}]` : `${p}.${String(k)}`), 'content');

// Each issue names the field itself: an unknown key by its own path, a list that is too long by its
// first item past the limit (content.quickReplies[13]).
function toIssues(i: z.core.$ZodIssue): { path: string; message: string }[] {
  if (i.code === 'unrecognized_keys')
    return i.keys.map((k) => ({ path: fieldPath([...i.path, k]), message: 'unknown field' }));
  if (i.code === 'too_big' && i.origin === 'array')
    return [{ path: fieldPath([...i.path, Number(i.maximum)]), message: i.message }];
  return [{ path: fieldPath(i.path), message: i.message }];
}

/** Sender actions (typing, seen, reactions) are sent alone: no text, no tag, no quote. */
export const isSenderAction = (c: Content) =>
  c.type === 'typing' || c.type === 'mark_seen' || c.type === 'reaction';

/** The Send API body for validated content. */
export function sendBody(to: Recipient, content: Content, options: SendOptions = {}): SendBody {
  const recipient = 'id' in to ? { id: to.id } : { comment_id: to.commentId };
  if (isSenderAction(content)) {
    if (options.replyTo || options.humanAgent) {
      throw new SendValidationError([
        { path: 'content.type', message: `${content.type} is sent alone: no replyTo or humanAgent` },
      ]);
    }
    if (!('id' in to))
      throw new SendValidationError([
        { path: 'to', message: `${content.type} needs a customer, not a comment` },
      ]);
    if (content.type === 'typing')
      return { recipient, sender_action: content.on ? 'typing_on' : 'typing_off' };
    if (content.type === 'mark_seen') return { recipient, sender_action: 'mark_seen' };
    if (content.type === 'reaction') {
      return content.reaction === null
        ? { recipient, sender_action: 'unreact', payload: { message_id: content.messageId } }
        : {
            recipient,
            sender_action: 'react',
            payload: { message_id: content.messageId, reaction: content.reaction },
          };
    }
  }
  // messaging_type: RESPONSE for every message inside the 24-hour window (Meta's value for a reply
  // to a customer's message, and all igdm sends there, automation's and agents' alike); MESSAGE_TAG
  // with HUMAN_AGENT from 24 hours to 7 days (the only tag Instagram takes). UPDATE (a message that
  // answers nothing) is never sent: Instagram allows no message outside the windows.
  const body: SendBody = {
    recipient,
    ...(options.humanAgent
      ? { messaging_type: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' }
      : { messaging_type: 'RESPONSE' }),
    message: message(content),
  };
  if (options.replyTo) body.reply_to = { mid: options.replyTo };
  return body;
}

function message(c: Content): Record<string, unknown> {
  switch (c.type) {
    case 'text':
      return c.quickReplies
        ? {
            text: c.text,
            quick_replies: c.quickReplies.map((q) => ({
              content_type: q.contentType,
              title: q.title,
              payload: q.payload,
            })),
          }
        : { text: c.text };
    case 'image':
    case 'video':
    case 'audio':
    case 'file': {
      const m = (c as unknown as Record<string, z.infer<typeof Media>>)[c.type]!;
      const payload = m.url
        ? { url: m.url, ...(m.isReusable !== undefined && { is_reusable: m.isReusable }) }
        : { attachment_id: m.attachmentId };
      return { attachment: { type: c.type, payload } };
    }
    case 'sticker':
      return { attachment: { type: 'like_heart' } };
    case 'media_share':
      return { attachment: { type: 'MEDIA_SHARE', payload: { id: c.mediaShare.id } } };
    case 'template': {
      const t = c.template;
      const payload =
        t.type === 'generic'
          ? {
              template_type: 'generic',
              elements: t.elements.map((e) => ({
                title: e.title,
                ...(e.subtitle && { subtitle: e.subtitle }),
                ...(e.imageUrl && { image_url: e.imageUrl }),
                ...(e.defaultAction && { default_action: { type: 'web_url', url: e.defaultAction.url } }),
                ...(e.buttons && { buttons: e.buttons.map(button) }),
              })),
            }
          : { template_type: 'button', text: t.text, buttons: t.buttons.map(button) };
      return { attachment: { type: 'template', payload } };
    }
    default:
      throw new Error(`no message body for ${c.type}`);
  }
}

function button(b: z.infer<typeof Button>) {
  return b.type === 'web_url'
    ? { type: 'web_url', title: b.title, url: b.url }
    : { type: 'postback', title: b.title, payload: b.payload };
}
