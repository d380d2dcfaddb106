// Turns one stored webhook item (RawEvent) into domain events. Pure and total: it never throws, and
// whatever it does not understand becomes ONE `unknown` event that keeps the payload whole. (One long
// file on purpose: it is where a reader learns how each of Meta's wire shapes becomes an event; the
// platform-fidelity issue is to split it by source as it adds comments and mentions. What a message's
// attachments become, shared products included, is in attachments.ts.)

import type { z } from 'zod';
import { toAttachment } from './attachments.ts';
import { type Context, changeTimestamp, contextOf, messagingTime, toMs } from './event-time.ts';
import type { DomainEvent, HandoverEvent, RawEvent, Referral, ReplyTo, UnknownEvent } from './events.ts';
import {
  changeSchema,
  commentValueSchema,
  mentionValueSchema,
  messageEditItemSchema,
  messageItemSchema,
  passThreadControlItemSchema,
  postbackItemSchema,
  reactionItemSchema,
  readItemSchema,
  referralItemSchema,
  releaseThreadControlItemSchema,
  requestThreadControlItemSchema,
  storyInsightsValueSchema,
  takeThreadControlItemSchema,
  timestampSchema,
  type WireMessagingEnvelope,
  type WireReferral,
  type WireReplyTo,
  type WireThreadControl,
} from './schemas.ts';
import { defined, isRecord } from './values.ts';

type BaseFields = Pick<UnknownEvent, 'accountId' | 'igsid' | 'timestamp' | 'standby' | 'originalTimestamp'>;

/** What every event of one RawEvent shares. */

/** Objects whose `messaging` / `standby` items igdm understands. */
const MESSAGING_OBJECTS = new Set(['instagram', 'page']);

/**
 * Change fields whose value is a messaging item. Meta's Dashboard "Test" button sends messaging
 * fields this way (`entry.id` "0", `changes:[{field:"messages", value:{sender, recipient,
 * timestamp:"1527459824", message}}]`); live traffic uses `messaging[]`.
 */
const MESSAGING_CHANGE_FIELDS = new Set([
  'messages',
  'message_reactions',
  'message_edit',
  'messaging_postbacks',
  'messaging_seen',
  'messaging_referral',
  'messaging_handover',
]);

export function normalise(raw: RawEvent): DomainEvent[] {
  let ctx: Context | undefined;
  try {
    ctx = contextOf(raw);
    return normaliseIn(ctx);
  } catch (err) {
    // Not expected: the schemas guard every access. Still never throw.
    try {
      return [unknownEvent(ctx ?? contextOf(raw), `normalise failed: ${errorText(err)}`)];
    } catch {
      return [
        {
          kind: 'unknown',
          reason: 'normalise failed',
          payload: raw?.payload,
          accountId: null,
          igsid: null,
          timestamp: 0,
          standby: false,
        },
      ];
    }
  }
}

function normaliseIn(ctx: Context): DomainEvent[] {
  const { raw } = ctx;
  const source: unknown = raw.source;
  const object: unknown = raw.object;
  if (source === 'messaging' || source === 'standby') {
    if (typeof object !== 'string' || !MESSAGING_OBJECTS.has(object)) {
      return [ignoredEvent(ctx, `unsupported object ${describe(object)} for ${source}`)];
    }
    return normaliseMessaging(ctx, raw.payload);
  }
  if (source === 'changes') {
    if (object !== 'instagram')
      return [ignoredEvent(ctx, `unsupported object ${describe(object)} for changes`)];
    return normaliseChange(ctx, raw.payload);
  }
  return [unknownEvent(ctx, `unknown source ${describe(source)}`)];
}

// ---------- messaging ----------

function normaliseMessaging(ctx: Context, item: unknown): DomainEvent[] {
  if (!isRecord(item)) return [unknownEvent(ctx, 'messaging item is not an object', item)];

  if (has(item, 'message')) {
    const parsed = messageItemSchema.safeParse(item);
    if (!parsed.success) return [badShape(ctx, 'message', parsed.error, item)];
    const it = parsed.data;
    const m = it.message;
    const rawMessage = item['message'] as Record<string, unknown>;
    const echo = m.is_echo === true;
    const base = baseOf(ctx, it, echo ? it.recipient?.id : it.sender?.id);
    if (m.is_deleted === true) return [{ ...base, kind: 'unsend', mid: m.mid }];
    // The account messaged itself: recorded as such, never as a customer's message.
    const isSelf = m.is_self === true ? (true as const) : undefined;
    const attachments = (m.attachments ?? []).map(toAttachment);
    const replyTo = m.reply_to === undefined ? undefined : toReplyTo(m.reply_to);
    if (echo) {
      return [
        defined({
          ...base,
          kind: 'echo' as const,
          mid: m.mid,
          text: m.text ?? undefined,
          attachments,
          replyTo,
          appId: m.app_id,
          isSelf,
        }),
      ];
    }
    return [
      defined({
        ...base,
        kind: 'message' as const,
        mid: m.mid,
        text: m.text ?? undefined,
        attachments,
        quickReplyPayload: m.quick_reply?.payload,
        replyTo,
        referral: m.referral === undefined ? undefined : toReferral(m.referral, rawMessage['referral']),
        isUnsupported: m.is_unsupported === true,
        isSelf,
      }),
    ];
  }

  if (has(item, 'message_edit')) {
    const parsed = messageEditItemSchema.safeParse(item);
    if (!parsed.success) return [badShape(ctx, 'message_edit', parsed.error, item)];
    const { message_edit: e } = parsed.data;
    return [
      defined({
        ...baseOf(ctx, parsed.data, parsed.data.sender?.id),
        kind: 'edit' as const,
        mid: e.mid,
        text: e.text,
        numEdit: e.num_edit,
      }),
    ];
  }

  if (has(item, 'reaction')) {
    const parsed = reactionItemSchema.safeParse(item);
    if (!parsed.success) return [badShape(ctx, 'reaction', parsed.error, item)];
    const { reaction: r } = parsed.data;
    const base = baseOf(ctx, parsed.data, parsed.data.sender?.id);
    if (r.action === 'unreact') return [{ ...base, kind: 'reaction', mid: r.mid, action: 'unreact' }];
    return [
      defined({
        ...base,
        kind: 'reaction' as const,
        mid: r.mid,
        action: r.action,
        reaction: r.reaction ?? undefined,
        emoji: r.emoji ?? undefined,
      }),
    ];
  }

  if (has(item, 'read')) {
    const parsed = readItemSchema.safeParse(item);
    if (!parsed.success) return [badShape(ctx, 'read', parsed.error, item)];
    const { read } = parsed.data;
    return [
      defined({
        ...baseOf(ctx, parsed.data, parsed.data.sender?.id),
        kind: 'read' as const,
        mid: read.mid,
        watermark: read.watermark,
      }),
    ];
  }

  if (has(item, 'postback')) {
    const parsed = postbackItemSchema.safeParse(item);
    if (!parsed.success) return [badShape(ctx, 'postback', parsed.error, item)];
    const { postback: p } = parsed.data;
    const rawPostback = item['postback'] as Record<string, unknown>;
    // Messenger nests the referral in the postback; accept it next to the postback as well.
    const referral =
      p.referral !== undefined
        ? toReferral(p.referral, rawPostback['referral'])
        : parsed.data.referral !== undefined
          ? toReferral(parsed.data.referral, item['referral'])
          : undefined;
    return [
      defined({
        ...baseOf(ctx, parsed.data, parsed.data.sender?.id),
        kind: 'postback' as const,
        mid: p.mid,
        title: p.title,
        payload: p.payload,
        referral,
      }),
    ];
  }

  if (has(item, 'pass_thread_control')) {
    const parsed = passThreadControlItemSchema.safeParse(item);
    if (!parsed.success) return [badShape(ctx, 'pass_thread_control', parsed.error, item)];
    return [handover(ctx, parsed.data, 'pass', parsed.data.pass_thread_control)];
  }
  if (has(item, 'take_thread_control')) {
    const parsed = takeThreadControlItemSchema.safeParse(item);
    if (!parsed.success) return [badShape(ctx, 'take_thread_control', parsed.error, item)];
    return [handover(ctx, parsed.data, 'take', parsed.data.take_thread_control)];
  }
  if (has(item, 'release_thread_control')) {
    const parsed = releaseThreadControlItemSchema.safeParse(item);
    if (!parsed.success) return [badShape(ctx, 'release_thread_control', parsed.error, item)];
    return [handover(ctx, parsed.data, 'release', parsed.data.release_thread_control)];
  }
  if (has(item, 'request_thread_control')) {
    const parsed = requestThreadControlItemSchema.safeParse(item);
    if (!parsed.success) return [badShape(ctx, 'request_thread_control', parsed.error, item)];
    const r = parsed.data.request_thread_control;
    return [
      defined({
        ...baseOf(ctx, parsed.data, parsed.data.sender?.id),
        kind: 'handover' as const,
        action: 'request' as const,
        requestedOwnerAppId: r.requested_owner_app_id ?? undefined,
        metadata: r.metadata ?? undefined,
      }),
    ];
  }

  if (has(item, 'referral')) {
    const parsed = referralItemSchema.safeParse(item);
    if (!parsed.success) return [badShape(ctx, 'referral', parsed.error, item)];
    return [
      {
        ...baseOf(ctx, parsed.data, parsed.data.sender?.id),
        kind: 'referral',
        referral: toReferral(parsed.data.referral, item['referral']),
      },
    ];
  }

  const keys = Object.keys(item)
    .filter((k) => k !== 'sender' && k !== 'recipient' && k !== 'timestamp')
    .slice(0, 5);
  return [ignoredEvent(ctx, `unknown messaging item (keys: ${keys.join(', ') || 'none'})`, item)];
}

function handover(
  ctx: Context,
  item: WireMessagingEnvelope,
  action: 'pass' | 'take' | 'release',
  control: WireThreadControl,
): HandoverEvent {
  return defined({
    ...baseOf(ctx, item, item.sender?.id),
    kind: 'handover' as const,
    action,
    previousOwnerAppId: control.previous_owner_app_id ?? undefined,
    newOwnerAppId: control.new_owner_app_id ?? undefined,
    metadata: control.metadata ?? undefined,
  });
}

function baseOf(ctx: Context, item: WireMessagingEnvelope, igsid: string | undefined): BaseFields {
  const { timestamp, original } = messagingTime(ctx, item.timestamp);
  return defined({
    accountId: ctx.accountId,
    igsid: igsid ?? null,
    timestamp,
    standby: ctx.standby,
    originalTimestamp: original,
  });
}

function toReplyTo(r: WireReplyTo): ReplyTo {
  if ('story' in r && isRecord(r.story)) {
    const story = r.story as { id?: string; url?: string };
    return { story: defined({ id: story.id, url: story.url }) };
  }
  return { mid: (r as { mid: string }).mid };
}

function toReferral(parsed: WireReferral, rawReferral: unknown): Referral {
  return defined({
    ref: parsed.ref ?? undefined,
    source: parsed.source ?? undefined,
    type: parsed.type ?? undefined,
    adId: parsed.ad_id ?? undefined,
    raw: isRecord(rawReferral) ? rawReferral : {},
  });
}

// ---------- changes ----------

function normaliseChange(changesCtx: Context, change: unknown): DomainEvent[] {
  // Everything under changes carries seconds.
  const ctx: Context = { ...changesCtx, fromChanges: true };
  const parsed = changeSchema.safeParse(change);
  if (!parsed.success) return [badShape(ctx, 'change', parsed.error, change)];
  const { field, value } = parsed.data;

  if (MESSAGING_CHANGE_FIELDS.has(field)) {
    return normaliseMessaging(ctx, value);
  }

  const timestamp = changeTimestamp(ctx, value);
  const base = { accountId: ctx.accountId, standby: ctx.standby, timestamp };

  switch (field) {
    case 'comments':
    case 'live_comments': {
      const v = commentValueSchema.safeParse(value);
      if (!v.success) return [badShape(ctx, `${field} value`, v.error, value)];
      const c = v.data;
      const commentId = c.id ?? c.comment_id;
      if (commentId === undefined)
        return [unknownEvent(ctx, `${field} value without id or comment_id`, value)];
      return [
        defined({
          ...base,
          igsid: c.from?.id ?? null,
          kind: 'comment' as const,
          source: field,
          commentId,
          text: c.text,
          fromUsername: c.from?.username,
          parentId: c.parent_id,
          mediaId: c.media?.id,
          mediaProductType: c.media?.media_product_type,
        }),
      ];
    }
    case 'mentions': {
      const v = mentionValueSchema.safeParse(value);
      if (!v.success) return [badShape(ctx, 'mentions value', v.error, value)];
      // A mention in a comment is a comment (its author is not given); one in a caption is not.
      if (v.data.comment_id !== undefined) {
        const m = v.data as typeof v.data & { text?: unknown };
        return [
          defined({
            ...base,
            igsid: null,
            kind: 'comment' as const,
            source: 'mentions' as const,
            commentId: v.data.comment_id,
            text: typeof m.text === 'string' ? m.text : undefined,
            mediaId: v.data.media_id,
          }),
        ];
      }
      return [defined({ ...base, igsid: null, kind: 'mention' as const, mediaId: v.data.media_id })];
    }
    case 'story_insights': {
      const v = storyInsightsValueSchema.safeParse(value);
      if (!v.success || !isRecord(value)) {
        return [unknownEvent(ctx, 'bad story_insights value: not an object with media_id', value)];
      }
      const metrics = Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'media_id'));
      return [
        defined({ ...base, igsid: null, kind: 'story_insights' as const, mediaId: v.data.media_id, metrics }),
      ];
    }
    default:
      return [ignoredEvent(ctx, `unknown change field ${describe(field)}`, value)];
  }
}

// ---------- unknown ----------

/**
 * `item` is only used to find a timestamp; the event always keeps the whole stored payload
 * (`raw.payload`), so a replay sees exactly what Meta sent.
 */
function unknownEvent(ctx: Context, reason: string, item?: unknown): UnknownEvent {
  let timestamp = ctx.entryTimeMs ?? 0;
  if (isRecord(item)) {
    const t = timestampSchema.safeParse(item['timestamp']);
    if (t.success && Number.isFinite(t.data)) timestamp = ctx.fromChanges ? toMs(t.data) : t.data;
  }
  return {
    kind: 'unknown',
    reason,
    payload: ctx.raw.payload,
    accountId: ctx.accountId,
    igsid: null,
    timestamp,
    standby: ctx.standby,
  };
}

/** Something igdm recognises and deliberately does not apply (yet): an object, a field, an item kind. */
function ignoredEvent(ctx: Context, reason: string, item?: unknown): UnknownEvent {
  return { ...unknownEvent(ctx, reason, item), ignored: true };
}

function badShape(ctx: Context, what: string, error: z.ZodError, item: unknown): UnknownEvent {
  const issue = error.issues[0];
  const detail = issue ? `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}` : 'invalid';
  return unknownEvent(ctx, `bad ${what}: ${detail.slice(0, 200)}`, item);
}

// ---------- helpers ----------

function has(obj: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(obj, key) && obj[key] !== undefined;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  if (v === null) return 'null';
  return typeof v;
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 200);
}
