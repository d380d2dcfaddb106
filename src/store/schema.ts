import type { ColumnType, Generated } from 'kysely';

// The store's tables as Kysely sees them (camelCase here, snake_case in SQL via CamelCasePlugin).
// Times are milliseconds since the epoch (bigint columns); JSON is kept as text, so the same schema
// runs on SQLite and PostgreSQL.

/**
 * What the sender knows of a channel: ok; throttled (Meta's rate limit, until it says); needs_token
 * (Meta refused the token: PATCH a new one); paused (blocked for policy, for an hour).
 */
export type ChannelHealth = 'ok' | 'throttled' | 'needs_token' | 'paused';

export interface ChannelTable {
  id: string;
  kind: string;
  accountId: string | null;
  pageId: string | null;
  /** Encrypted JSON: { appSecret, verifyToken, accessToken }. Never leaves the store in clear. */
  secrets: string;
  graphApiUrl: string;
  graphApiVersion: string;
  allowSha1: number;
  /** Its health, as the sender last recorded it (send/channel-health.ts). */
  status: ChannelHealth;
  name: string | null;
  /** How the account logs in: `instagram` (Instagram Login) or `facebook` (Facebook Login, via a Page). */
  login: Generated<ChannelLogin>;
  /** Deleted through the API: it neither receives nor sends; its conversations stay. */
  deletedAt: number | null;
  /**
   * Encrypted JSON: the fields set through the API over the environment's values, each with the
   * environment's value at that time (channels/env-channel.ts). Null for channels made through the API.
   */
  apiFields: string | null;
  /** The Meta app the channel belongs to (debug_token, data deletion requests). */
  appId: string | null;
  createdAt: number;
  updatedAt: number;
}

/** What a token's record says of it (channels/token-keeper.ts). */
export type TokenState = 'unknown' | 'ok' | 'expiring' | 'expired';

/** What igdm knows of a channel's access token (never the token itself). */
export interface ChannelTokenTable {
  channelId: string;
  /** SHA-256 of the token: a token changed by other means starts a new record. */
  tokenDigest: string;
  /** When igdm first had this token (Meta refreshes only tokens at least 24 h old). */
  knownSince: number;
  /** When it expires; null unknown, 0 never (debug_token's expires_at 0). */
  expiresAt: number | null;
  refreshedAt: number | null;
  /** Why the last refresh failed; null when it did not. */
  problem: string | null;
  state: TokenState;
  updatedAt: number;
}

/** A data deletion request from Meta: its confirmation code and outcome; not the person's id. */
export interface DataDeletionRequestTable {
  code: string;
  channelId: string | null;
  /** Contacts erased. */
  contacts: number;
  status: 'completed';
  receivedAt: number;
}

export type ChannelLogin = 'instagram' | 'facebook';

export interface WebhookEventTable {
  id: Generated<number>;
  dedupKey: string;
  channelId: string | null;
  object: string;
  source: string;
  kind: string;
  entryId: string | null;
  entryTime: number | null;
  igsid: string | null;
  metaTimestamp: number;
  /** The event exactly as Meta sent it (one item of the batch), as JSON. */
  payload: string;
  receivedAt: number;
  appliedAt: number | null;
  /** Why the event was not applied (unapplied or ignored); null once applied. */
  applyError: string | null;
  /** applied, unapplied or ignored; null while it waits to be applied. */
  applyStatus: 'applied' | 'unapplied' | 'ignored' | null;
  /** 1: read from the Conversations API after its webhook was missed (src/backfill/). */
  backfilled: Generated<number>;
}

export interface ContactTable {
  id: string;
  channelId: string;
  igsid: string;
  username: string | null;
  name: string | null;
  profilePic: string | null;
  profileCheckedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface ConversationTable {
  id: string;
  channelId: string;
  igsid: string;
  contactId: string;
  status: string;
  threadOwner: string;
  lastInboundAt: number | null;
  lastMessageAt: number | null;
  /** The customer has seen outbound messages up to this time (kept for echoes that arrive after the read). */
  readUpTo: number | null;
  /** When the customer last read. */
  readAt: number | null;
  /** enquiry, order, collab, support or general, once classified. */
  intent: string | null;
  /** Tags, as a JSON array of strings. */
  tags: Generated<string>;
  /** The agent handling the conversation (a name). */
  assignee: string | null;
  /** Agents have read the inbound messages created up to this time (POST /v1/conversations/:id/read). */
  agentReadUpTo: number | null;
  /** The first referral (ig.me link or ad) as JSON `{ ref, source, type, adId }`, and its Meta time. */
  source: string | null;
  sourceAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** A copy of an inbound message's attachment (media/keeper.ts). */
export interface KeptMediaTable {
  id: string;
  channelId: string;
  conversationId: string;
  messageId: string;
  attachmentIndex: number;
  /** kept, failed (Meta's link answered an error) or too_large. */
  status: string;
  /** The file's absolute path, while kept. */
  file: string | null;
  contentType: string | null;
  bytes: number;
  error: string | null;
  createdAt: number;
}

export interface MessageTable {
  id: string;
  channelId: string;
  conversationId: string;
  /** Meta's message id; null while a message igdm sends is queued. */
  mid: string | null;
  direction: string;
  type: string;
  text: string | null;
  attachments: string;
  replyTo: string | null;
  /** A quick reply or postback payload. */
  payload: string | null;
  referral: string | null;
  reactions: string;
  status: string;
  isEcho: number;
  editedAt: number | null;
  deletedAt: number | null;
  seenAt: number | null;
  /** Why a message igdm sent failed: { reason, message, code?, subcode? }, as JSON. */
  error: string | null;
  /** customer, bot, human (an agent or the Instagram app) or api; null on rows from before 0004. */
  author: string | null;
  /**
   * 1: sent again although Meta could not say whether an earlier try, whose answer was lost, had
   * gone: the customer may see it twice.
   */
  possibleDuplicate: Generated<number>;
  /** The agent whose key sent it (an outbound message a person wrote), or null. */
  agent: Generated<string | null>;
  /** 1: igdm missed its webhook and read it from the Conversations API later (src/backfill/). */
  backfilled: Generated<number>;
  /** The approval it is about (src/approvals/): the approval DM, an answer to it, igdm's reply. */
  approvalId: ColumnType<string | null, string | null | undefined, string | null>;
  createdAt: number;
  updatedAt: number;
}

export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'expired' | 'cancelled';

/** An approval asked of a person over DM (src/approvals/). */
export interface ApprovalTable {
  id: string;
  channelId: string;
  conversationId: string;
  /** The approver's IGSID. */
  approver: string;
  title: string;
  /**
   * JSON: [{ label, display, value? | sealed? }]: a visible field's value in clear, a masked one's
   * sealed (secret-box.ts), a concealed one's not at all.
   */
  fields: string;
  status: ApprovalStatus;
  /** 1 approved, 0 rejected; null otherwise. */
  approved: number | null;
  /** The IGSID whose answer decided it. */
  respondedBy: string | null;
  respondedAt: number | null;
  decidedAt: number | null;
  /** What decided it: `event:<dedup key>` (an answer), `cancel`, `expiry`. */
  decidedBy: string | null;
  expiresAt: number;
  /** JSON object, the caller's own. */
  metadata: string;
  callbackUrl: string | null;
  /** Sealed (secret-box.ts): signs the callback. */
  callbackSecret: string | null;
  /** The callback's webhook delivery, made with the decision. */
  callbackDeliveryId: string | null;
  /** The approval DM. */
  messageId: string | null;
  /** JSON array: the labels (or "title") shortened to fit the DM. */
  shortened: string;
  createdAt: number;
  updatedAt: number;
}

export interface OutboxTable {
  id: string;
  channelId: string;
  messageId: string | null;
  conversationId: string | null;
  /** { id } or { comment_id }, as JSON. */
  recipient: string;
  /** The content type (text, image, reaction, ...), for rate classes and logs. */
  kind: string;
  /** The Send API body, as JSON. */
  body: string;
  human: number;
  /** `unconfirmed`: a send interrupted between Meta's answer and igdm's record, settled by its echo. */
  status: 'queued' | 'sending' | 'unconfirmed' | 'sent' | 'failed';
  attempts: number;
  nextAttemptAt: number;
  mid: string | null;
  error: string | null;
  /** What caused this send (an event and a rule), so that it is made once. */
  causedBy: string | null;
  createdAt: number;
  updatedAt: number;
  sentAt: number | null;
}

export interface CommentTable {
  id: string;
  channelId: string;
  /** Meta's comment id (recipient.comment_id of a private reply). */
  commentId: string;
  igsid: string | null;
  username: string | null;
  text: string | null;
  mediaId: string | null;
  parentId: string | null;
  createdAt: number;
  /** The webhook field it came in: comments, live_comments, mentions; `reply` for igdm's own public reply. */
  source: ColumnType<string, string | undefined, string>;
  mediaProductType: string | null;
  /** Hidden through igdm (POST /v1/comments/:id/hide). */
  hidden: ColumnType<number, number | undefined, number>;
  /** Deleted through igdm (kept, marked). */
  deletedAt: ColumnType<number | null, number | null | undefined, number | null>;
  /** The automation's public reply to it was claimed by this cause (one per comment). */
  publicReplyCause: ColumnType<string | null, string | null | undefined, string | null>;
}

export type JobStatus = 'ready' | 'active' | 'done' | 'dead';

export interface JobTable {
  id: Generated<number>;
  queue: string;
  /** Jobs of one key run one at a time, in order_at order. */
  key: string;
  orderAt: number;
  /** A second job with the same key is the first. */
  dedupKey: string;
  payload: string;
  status: JobStatus;
  attempts: number;
  runAt: number;
  /** An active job whose lease ran out belongs to a process that died: it is claimed again. */
  lockedUntil: number | null;
  /** The last failure. */
  error: string | null;
  /** What the job did, as JSON. */
  result: string | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export interface StoryMentionTable {
  id: string;
  channelId: string;
  conversationId: string;
  igsid: string;
  mid: string;
  /** The story's id, from the Graph API's story lookup. */
  storyId: string | null;
  /** The story's CDN URL (from the webhook or the lookup); it expires with the story. */
  mediaUrl: string | null;
  createdAt: number;
  updatedAt: number;
}

/** An internal note on a conversation: agents' only, never sent. */
export interface ConversationNoteTable {
  id: string;
  conversationId: string;
  text: string;
  /** The agent who wrote it; null until API keys name their agent. */
  author: string | null;
  createdAt: number;
}

export interface SettingTable {
  key: string;
  value: string;
}

export interface Database {
  channels: ChannelTable;
  channelTokens: ChannelTokenTable;
  dataDeletionRequests: DataDeletionRequestTable;
  webhookEvents: WebhookEventTable;
  contacts: ContactTable;
  conversations: ConversationTable;
  keptMedia: KeptMediaTable;
  messages: MessageTable;
  outbox: OutboxTable;
  comments: CommentTable;
  jobs: JobTable;
  storyMentions: StoryMentionTable;
  settings: SettingTable;
  apiKeys: ApiKeyTable;
  events: EventTable;
  conversationNotes: ConversationNoteTable;
  webhookEndpoints: WebhookEndpointTable;
  webhookDeliveries: WebhookDeliveryTable;
  webhookAttempts: WebhookAttemptTable;
  contactErasures: ContactErasureTable;
  savedReplies: SavedReplyTable;
  approvals: ApprovalTable;
  rateWindows: RateWindowTable;
  channelHolds: ChannelHoldTable;
}

/** One rate window's calls, on PostgreSQL (graph/shared-rate-limit.ts; empty on SQLite). */
export interface RateWindowTable {
  key: string;
  /** When each answered call still in it was answered: a PostgreSQL bigint[] as text, oldest first. */
  hits: string;
  /** The calls in flight (their places), and when each expires: text[] and bigint[] as text. */
  flying: string;
  flyingUntil: string;
  updatedAt: number;
}

/** A channel's hold and circuit breaker, on PostgreSQL (send/shared-holds.ts; empty on SQLite). */
export interface ChannelHoldTable {
  channelId: string;
  holdUntil: number;
  failuresInRow: number;
  health: ChannelHealth | null;
  updatedAt: number;
}

/** A reply the team keeps to send again, picked by its shortcut (unique). */
export interface SavedReplyTable {
  id: string;
  shortcut: string;
  text: string;
  createdAt: number;
  updatedAt: number;
}

/** A contact's data was erased (store/erasure.ts): the record of it, with no personal data. */
export interface ContactErasureTable {
  id: string;
  contactId: string;
  channelId: string;
  /** The API key that asked (null: IGDM_API_KEY), and its agent. */
  keyId: string | null;
  agent: string | null;
  /** How many rows of each kind were erased, as JSON. */
  counts: string;
  erasedAt: number;
}

export interface EventTable {
  id: Generated<number>;
  event: string;
  channelId: string;
  conversationId: string | null;
  /** JSON. */
  data: string;
  dedupKey: string | null;
  createdAt: number;
  /** PostgreSQL: the writing transaction's id (migrations-cursor.ts); null on SQLite. */
  tx: Generated<number | null>;
}

export interface ApiKeyTable {
  id: string;
  name: string;
  agent: string | null;
  /** JSON array of channel ids, or null for every channel. */
  channels: string | null;
  /** JSON array of scopes. */
  scopes: string;
  /** SHA-256 of the key, hex. */
  keyHash: string;
  /** The key's last characters, to tell keys apart. */
  hint: string;
  createdAt: number;
  revokedAt: number | null;
}

export interface WebhookEndpointTable {
  id: string;
  url: string;
  description: string | null;
  /** JSON array of event names ("*" for all). */
  events: string;
  /** JSON array of channel ids, or null for every channel. */
  channels: string | null;
  /** Sealed (secret-box.ts). */
  secret: string;
  previousSecret: string | null;
  previousSecretUntil: number | null;
  enabled: number;
  /** The last event of the log its deliveries have been made for. */
  dispatchedUpTo: number;
  createdAt: number;
  updatedAt: number;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'cancelled';

export interface WebhookDeliveryTable {
  id: string;
  endpointId: string | null;
  /** A rule's `webhook` action: the rule's name, and the URL it named. */
  rule: string | null;
  url: string | null;
  eventId: number | null;
  event: string;
  channelId: string;
  conversationId: string | null;
  /** The webhook-id header: the same on every attempt. */
  webhookId: string;
  /** A rule's body (JSON); null for an endpoint's, which is its event. */
  body: string | null;
  dedupKey: string;
  status: DeliveryStatus;
  attempts: number;
  /** Failed attempts are tried again until then. */
  retryUntil: number;
  nextAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface WebhookAttemptTable {
  deliveryId: string;
  attempt: number;
  at: number;
  /** The receiver's HTTP status; null when none came. */
  status: number | null;
  error: string | null;
  /** The start of the receiver's answer. */
  response: string | null;
  durationMs: number;
}
