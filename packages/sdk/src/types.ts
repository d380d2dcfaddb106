// What igdm's API answers, as its OpenAPI document (GET /openapi.json) describes it. Times are
// ISO 8601 strings.

export * from './types-webhooks.ts';

import type { Contact } from './types-webhooks.ts';

/** A page of a list: pass `nextCursor` as `cursor` for the next one; null on the last page. */
export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

export type ConversationStatus = 'open' | 'pending' | 'resolved';
export type Owner = 'bot' | 'human';

export interface Conversation {
  id: string;
  channelId: string;
  /** The customer's Instagram-scoped id: what `messages.send` takes as `to`. */
  igsid: string;
  contact: { id: string; username: string | null; name: string | null; profilePic: string | null };
  status: ConversationStatus;
  threadOwner: Owner;
  intent: string | null;
  tags: string[];
  lastInboundAt: string | null;
  lastMessageAt: string | null;
  /** When the 24-hour messaging window closes. */
  windowClosesAt: string | null;
  windowOpen: boolean;
  /** Until when a human agent may still answer (7 days, `humanAgent: true`). */
  humanWindowClosesAt: string | null;
  /** The agent who handles it (a name), or null. */
  assignee: string | null;
  /** Where the customer came from: the conversation's first referral (ig.me link or ad), or null. */
  source: Source | null;
  /** The customer's messages since agents last read it (`conversations.read`). */
  unread: number;
  notesCount: number;
  /** The newest message, in brief (for a preview); null before any. */
  lastMessage: LastMessage | null;
  createdAt: string | null;
  updatedAt: string | null;
}

/** An ig.me link (`source` SHORTLINKS, its `ref`) or an ad (`source` ADS, `adId`). */
export interface Source {
  ref: string | null;
  source: string | null;
  type: string | null;
  adId: string | null;
}

/** The referral a message came with: its source, and an ad's details as Meta gives them. */
export interface Referral extends Source {
  /** `ad_title`, `photo_url`, `video_url`, `post_id`, … as Meta sends them; null without an ad. */
  adsContextData: unknown;
}

/** An internal note on a conversation: never sent to the customer. */
export interface Note {
  id: string;
  conversationId: string;
  text: string;
  /** The agent whose key wrote it, or null. */
  author: string | null;
  createdAt: string;
}

/** The events igdm records (the README's "Live events" says what each carries). */
export type EventName =
  | 'message.received'
  | 'message.queued'
  | 'message.sent'
  | 'message.failed'
  | 'message.read'
  | 'message.edited'
  | 'message.deleted'
  | 'instagram.reaction'
  | 'instagram.story_mention'
  | 'instagram.story_reply'
  | 'instagram.product_share'
  | 'instagram.quick_reply'
  | 'instagram.postback'
  | 'instagram.referral'
  | 'conversation.updated'
  | 'comment.received'
  | 'channel.health'
  | 'approval.created'
  | 'approval.decided';

/** A shop's product a customer shared (`instagram.product_share`), as far as Meta describes it. */
export interface SharedProduct {
  /** The product's id in the catalog. */
  id: string;
  /** The shop's own id for it (SKU, content id). */
  retailerId?: string;
  name?: string;
  /** As Meta writes it: text such as "$40". */
  price?: string;
  imageUrl?: string;
}

/** An event of igdm's event log (`events.subscribe`). */
export interface IgdmEvent {
  /** Its place in the log: give it back (Last-Event-ID) to go on after it. */
  id: string;
  /** message.received, message.sent, instagram.reaction ... (a newer igdm may add names). */
  event: EventName | (string & {});
  createdAt: string;
  channelId: string;
  conversationId: string | null;
  data: Record<string, unknown>;
}

/** A handover's answer: set when Meta's thread control refused the move (igdm's moved all the same). */
export interface HandedConversation extends Conversation {
  routingError?: string;
}

export interface Message {
  id: string;
  /** Meta's message id; null while queued. */
  mid: string | null;
  conversationId: string;
  channelId: string;
  direction: 'inbound' | 'outbound';
  /** text, image, video, audio, file, share, story_mention, story_reply, product_share ... */
  type: string;
  text: string | null;
  attachments: unknown[];
  replyTo: unknown;
  /** A quick reply's or postback's payload. */
  payload: string | null;
  referral: Referral | null;
  reactions: { by: string; reaction: string; emoji: string | null; at: string | null }[];
  /** received, queued, sent, seen or failed. */
  status: string;
  /** Why a message igdm sent failed: `{ reason, message, code?, subcode? }`. */
  error: unknown;
  isEcho: boolean;
  possibleDuplicate: boolean;
  /** igdm missed its webhook (an outage) and read it from the Conversations API later. */
  backfilled: boolean;
  /** `approval`: the DM of an approval (`approvalId` names it). */
  author: 'customer' | 'bot' | 'human' | 'api' | 'approval' | null;
  /** The person who wrote it, when their API key names them. */
  agent: string | null;
  editedAt: string | null;
  deletedAt: string | null;
  seenAt: string | null;
  createdAt: string | null;
  /** The approval this message asks for (its DM); null for every other message. */
  approvalId: string | null;
}

/** A typing indicator, a seen or a reaction: followed by its `out_…` id. */
export interface SenderAction {
  id: string;
  type: string;
  status: 'queued' | 'sending' | 'unconfirmed' | 'sent' | 'failed';
  error?: unknown;
}

export type ChannelLogin = 'instagram' | 'facebook';

export interface Channel {
  id: string;
  name: string | null;
  kind: string;
  login: ChannelLogin;
  accountId: string | null;
  pageId: string | null;
  graphApiUrl: string;
  graphApiVersion: string;
  /** The Meta app's id, if given. */
  appId: string | null;
  status: 'ok' | 'throttled' | 'needs_token' | 'paused';
  /** The access token's life: igdm refreshes Instagram Login tokens before they expire. */
  token: ChannelToken;
  /** Which secrets are set (they are never shown). */
  secrets: { accessToken: boolean; appSecret: boolean; verifyToken: boolean };
  /** Whether the app still gets the account's webhooks, as the last backfill found it; null: not checked yet. */
  webhookSubscription: WebhookSubscription | null;
}

export interface WebhookSubscription {
  /** active: subscribed to messages; inactive: Meta delivers nothing (`igdm doctor --fix`); unknown: could not ask. */
  state: 'active' | 'inactive' | 'unknown';
  fields: string[];
  checkedAt: string;
  detail: string | null;
}

/** What a backfill run did: conversations checked, messages recovered, where some may be missing. */
export interface BackfillReport {
  channelId: string;
  trigger: 'start' | 'schedule' | 'import';
  since: string;
  startedAt: string;
  finishedAt: string;
  conversationsChecked: number;
  messagesRecovered: number;
  /** Conversations whose older messages Meta no longer shows (only the 20 newest), though newer than `since`. */
  possiblyMissing: { conversationId: string; igsid: string | null; oldestShownAt: string }[];
  subscription: WebhookSubscription;
  /** Why the run stopped early (a Graph API failure); what it recovered before is kept. */
  error: { reason: string; message: string } | null;
}

export interface ChannelToken {
  /** `expiring`: within 7 days of its expiry and not refreshed; `unknown`: expiry not known yet. */
  state: 'unknown' | 'ok' | 'expiring' | 'expired';
  /** ISO time; null when unknown or when it does not expire. */
  expiresAt: string | null;
  expiresInDays: number | null;
  refreshedAt: string | null;
  /** Why igdm could not refresh (or check) it. */
  problem: string | null;
}

export interface IceBreaker {
  /** At most 80 characters. */
  question: string;
  payload: string;
}

export type Scope = 'read' | 'send' | 'admin';

/** Who the client's key is (`client.me()`). */
export interface Me {
  /** null for IGDM_API_KEY. */
  keyId: string | null;
  /** The key's name; "IGDM_API_KEY" for that one. */
  name: string;
  /** The person the key belongs to. */
  agent: string | null;
  scopes: Scope[];
  /** The channels it sees; null for all. */
  channels: string[] | null;
  /** igdm runs its sandbox (`client.sandbox` answers). */
  sandbox: boolean;
}

/** A text the team sends again, picked by its shortcut. */
export interface SavedReply {
  id: string;
  shortcut: string;
  text: string;
  createdAt: string;
  updatedAt: string;
}

export type AttachmentType = 'image' | 'video' | 'audio' | 'file';

/** A file uploaded to Meta: send `attachmentId` as the content's attachment. */
export interface UploadedAttachment {
  attachmentId: string;
  type: AttachmentType;
  /** Bytes uploaded. */
  size: number;
}

export interface ApiKey {
  id: string;
  name: string;
  agent: string | null;
  /** The channels it sees; null for all. */
  channels: string[] | null;
  scopes: Scope[];
  /** The key's last 4 characters. */
  hint: string;
  createdAt: string;
  revokedAt: string | null;
}

/** A key just made: `key` is shown this once. */
export interface NewApiKey extends ApiKey {
  key: string;
}

export type JobStatus = 'ready' | 'active' | 'done' | 'dead';

export interface Job {
  id: number;
  queue: string;
  /** The job's key: the conversation it belongs to. */
  conversationId: string;
  status: JobStatus;
  attempts: number;
  error: string | null;
  result: unknown;
  payload: unknown;
  orderAt: string | null;
  runAt: string | null;
  createdAt: string | null;
  finishedAt: string | null;
}

export interface JobPage extends Page<Job> {
  counts: Partial<Record<JobStatus, number>>;
}

/** A mention of the account in the contact's story. */
export interface StoryMention {
  id: string;
  conversationId: string;
  mid: string;
  storyId: string | null;
  /** The story's CDN URL; it expires with the story. */
  mediaUrl: string | null;
  createdAt: string | null;
}

/** A send to the contact, as igdm's outbox has it. */
export interface Send {
  id: string;
  messageId: string | null;
  conversationId: string | null;
  /** text, image, reaction, typing ... */
  kind: string;
  status: 'queued' | 'sending' | 'unconfirmed' | 'sent' | 'failed';
  attempts: number;
  /** The Send API body. */
  body: unknown;
  mid: string | null;
  error: unknown;
  createdAt: string | null;
  sentAt: string | null;
}

/** A comment on the account's media (GET /v1/comments). */
export interface Comment {
  /** cmt_… */
  id: string;
  channelId: string;
  /** Meta's comment id (a private reply's commentId). */
  commentId: string;
  /** comments, live_comments, mentions, or reply (a public reply igdm made). */
  source: string;
  mediaId: string | null;
  /** FEED, REELS, STORY, LIVE, … when Meta gives it. */
  mediaProductType: string | null;
  /** The comment it replies to (Meta's id). */
  parentId: string | null;
  /** The author; null when Meta does not say (mentions). */
  from: { id: string; username: string | null } | null;
  text: string | null;
  hidden: boolean;
  deletedAt: string | null;
  createdAt: string;
}

/** A comment of the contact's on one of the account's posts. */
export interface ContactComment {
  id: string;
  commentId: string;
  mediaId: string | null;
  parentId: string | null;
  username: string | null;
  text: string | null;
  createdAt: string | null;
}

/** A webhook event about the contact, as Meta sent it (one item of a delivery). */
export interface RawWebhookEvent {
  id: number;
  object: string;
  /** messaging, standby or changes. */
  source: string;
  kind: string;
  entryId: string | null;
  metaTimestamp: string | null;
  receivedAt: string | null;
  appliedAt: string | null;
  applyError: string | null;
  payload: unknown;
}

/** Everything igdm holds about a contact (`contacts.export`). */
export interface ContactExport {
  exportedAt: string;
  contact: Contact;
  conversations: Conversation[];
  /** Every message of their conversations, oldest first. */
  messages: Message[];
  notes: Note[];
  storyMentions: StoryMention[];
  sends: Send[];
  comments: ContactComment[];
  /** The event log's entries about their conversations. */
  events: IgdmEvent[];
  webhookEvents: RawWebhookEvent[];
}

/** The record of a contact's erasure (`contacts.erase`): no personal data. */
export interface ContactErasure {
  id: string;
  contactId: string;
  channelId: string;
  erasedAt: string;
  /** The API key that asked (null: IGDM_API_KEY), and its agent. */
  erasedBy: { keyId: string | null; agent: string | null };
  /** Rows erased, by kind. */
  counts: {
    conversations: number;
    messages: number;
    notes: number;
    storyMentions: number;
    comments: number;
    /** Outbox rows whose content and address were erased. */
    sends: number;
    /** Queued sends that will not go (failed: erased). */
    sendsCancelled: number;
    events: number;
    webhookEvents: number;
    /** Finished jobs whose results were cleared. */
    jobs: number;
    /** Outbound webhook deliveries, with their attempts. */
    webhookDeliveries: number;
  };
}

/** A conversation's newest message, in brief. */
export interface LastMessage {
  id: string;
  direction: 'inbound' | 'outbound';
  type: string;
  text: string | null;
  deletedAt: string | null;
  /** Null for a time Meta sent that a date cannot hold. */
  createdAt: string | null;
}
