// The domain events igdm derives from Meta's Instagram webhooks. Everything after ingest works on
// these, never on Meta's wire shapes. Each event keeps what the engine needs; the raw event stays
// in the store (webhook_events.payload), so no field Meta sends is ever lost.

/** Where an item sat in the webhook body. `standby`: another app owns the thread. */
export type RawSource = 'messaging' | 'standby' | 'changes' | 'unknown';

/** One item of a webhook batch as stored: enough to normalise it again at any time (replay). */
export interface RawEvent {
  object: string;
  entryId: string | null;
  entryTime: number | null;
  source: RawSource;
  payload: unknown;
  /** When igdm received it (ms): the time of an event whose own times are implausible. */
  receivedAt?: number | null;
}

export interface Attachment {
  /** Meta's type: image, video, audio, file, share, story_mention, ig_reel, reel, ig_post, ephemeral, ... */
  type: string;
  url?: string;
  title?: string;
  /** ig_reel: reel_video_id; ig_post: ig_post_media_id; story: the story id when Meta gives one. */
  mediaId?: string;
  /** A product shared from a shop (a `template` attachment carrying `product.elements`). */
  products?: Product[];
  /** The attachment's payload as Meta sent it (unknown keys included). */
  payload: Record<string, unknown>;
}

/** A shop's product, as far as Meta describes it (it gives no link to the product's page). */
export interface Product {
  /** The product's id in the catalog. */
  id: string;
  /** The shop's own id for it (SKU, content id). */
  retailerId?: string;
  name?: string;
  /** As Meta writes it: text such as "$40". */
  price?: string;
  imageUrl?: string;
}

export type ReplyTo = { mid: string } | { story: { id?: string; url?: string } };

export interface Referral {
  ref?: string;
  source?: string;
  type?: string;
  adId?: string;
  /** The referral object as Meta sent it. */
  raw: Record<string, unknown>;
}

interface Base {
  /** entry[].id: the professional account (IG ID) the event belongs to. */
  accountId: string | null;
  /** The customer (IGSID): the sender of inbound events, the recipient of echoes. */
  igsid: string | null;
  /** Meta's timestamp in milliseconds (changes carry seconds; normalised to ms). */
  timestamp: number;
  /** Delivered under entry[].standby: igdm is not the thread owner. */
  standby: boolean;
  /**
   * The timestamp as Meta sent it, when it could not be used (seconds, not a number, implausible)
   * and `timestamp` is entry.time or the receipt time instead.
   */
  originalTimestamp?: unknown;
}

export interface MessageEvent extends Base {
  kind: 'message';
  mid: string;
  text?: string;
  attachments: Attachment[];
  quickReplyPayload?: string;
  replyTo?: ReplyTo;
  referral?: Referral;
  isUnsupported: boolean;
  /** `is_self`: the account messaged itself; not a customer's message. */
  isSelf?: true;
}

/** A message the business account sent (through igdm, another app or the Instagram app). */
export interface EchoEvent extends Base {
  kind: 'echo';
  mid: string;
  text?: string;
  attachments: Attachment[];
  replyTo?: ReplyTo;
  /** The app that sent it, when Meta says. */
  appId?: string;
  /** `is_self`: the account messaged itself. */
  isSelf?: true;
}

export interface UnsendEvent extends Base {
  kind: 'unsend';
  mid: string;
}

export interface EditEvent extends Base {
  kind: 'edit';
  mid: string;
  text: string;
  numEdit?: number;
}

export interface ReactionEvent extends Base {
  kind: 'reaction';
  mid: string;
  action: 'react' | 'unreact';
  reaction?: string;
  emoji?: string;
}

export interface ReadEvent extends Base {
  kind: 'read';
  mid?: string;
  watermark?: number;
}

export interface PostbackEvent extends Base {
  kind: 'postback';
  mid?: string;
  title?: string;
  payload: string;
  referral?: Referral;
}

export interface ReferralEvent extends Base {
  kind: 'referral';
  referral: Referral;
}

export interface HandoverEvent extends Base {
  kind: 'handover';
  action: 'pass' | 'take' | 'request' | 'release';
  previousOwnerAppId?: string;
  newOwnerAppId?: string;
  requestedOwnerAppId?: string;
  metadata?: string;
}

/** The webhook field a comment came in: a post's comment, a live video's, or a mention of the account. */
export type CommentSource = 'comments' | 'live_comments' | 'mentions';

export interface CommentEvent extends Base {
  kind: 'comment';
  source: CommentSource;
  commentId: string;
  text?: string;
  fromUsername?: string;
  parentId?: string;
  mediaId?: string;
  mediaProductType?: string;
}

export interface MentionEvent extends Base {
  kind: 'mention';
  mediaId?: string;
  commentId?: string;
}

export interface StoryInsightsEvent extends Base {
  kind: 'story_insights';
  mediaId?: string;
  metrics: Record<string, unknown>;
}

/** Anything Meta sends that igdm does not understand (yet): kept whole, never dropped. */
export interface UnknownEvent extends Base {
  kind: 'unknown';
  reason: string;
  payload: unknown;
  /**
   * Understood well enough to know igdm does not handle it (another object, a field or an item kind
   * igdm does not apply yet): stored and listed as ignored. Otherwise it could not be read: unapplied.
   */
  ignored?: true;
}

export type DomainEvent =
  | MessageEvent
  | EchoEvent
  | UnsendEvent
  | EditEvent
  | ReactionEvent
  | ReadEvent
  | PostbackEvent
  | ReferralEvent
  | HandoverEvent
  | CommentEvent
  | MentionEvent
  | StoryInsightsEvent
  | UnknownEvent;

export type DomainEventKind = DomainEvent['kind'];

/** The referral an event carries: a referral alone, or a message or postback that came with one. */
export function referralOf(e: DomainEvent): Referral | undefined {
  return e.kind === 'referral' || e.kind === 'message' || e.kind === 'postback' ? e.referral : undefined;
}
