import type { Generated } from 'kysely';
import type {
  ChannelHoldTable,
  ChannelTable,
  ChannelTokenTable,
  DataDeletionRequestTable,
  RateWindowTable,
} from './schema-channels.ts';
import type {
  CommentTable,
  ContactErasureTable,
  ContactTable,
  ConversationNoteTable,
  ConversationTable,
  KeptMediaTable,
  MessageTable,
  StoryMentionTable,
} from './schema-conversations.ts';
import type {
  EventTable,
  WebhookAttemptTable,
  WebhookDeliveryTable,
  WebhookEndpointTable,
} from './schema-events.ts';

// The store's tables as Kysely sees them (camelCase here, snake_case in SQL via CamelCasePlugin).
// Times are milliseconds since the epoch (bigint columns); JSON is kept as text, so the same schema
// runs on SQLite and PostgreSQL. The tables of channels, of conversations and of the event log and
// its webhooks are in their own modules, re-exported here; the rest (inbound webhooks, the outbox,
// jobs, approvals, keys, settings) and `Database` are below.

export type {
  ChannelHealth,
  ChannelHoldTable,
  ChannelLogin,
  ChannelTable,
  ChannelTokenTable,
  DataDeletionRequestTable,
  RateWindowTable,
  TokenState,
} from './schema-channels.ts';
export type {
  CommentTable,
  ContactErasureTable,
  ContactTable,
  ConversationNoteTable,
  ConversationTable,
  KeptMediaTable,
  MessageTable,
  StoryMentionTable,
} from './schema-conversations.ts';
export type {
  DeliveryStatus,
  EventTable,
  WebhookAttemptTable,
  WebhookDeliveryTable,
  WebhookEndpointTable,
} from './schema-events.ts';

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
  /** 1: runNow() was asked while the job ran; a wait its run ends with is cut short. */
  runAgain: Generated<number>;
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

/** A reply the team keeps to send again, picked by its shortcut (unique). */
export interface SavedReplyTable {
  id: string;
  shortcut: string;
  text: string;
  createdAt: number;
  updatedAt: number;
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
