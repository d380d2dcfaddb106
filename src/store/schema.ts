import type { Generated } from 'kysely';

// The store's tables as Kysely sees them (camelCase here, snake_case in SQL via CamelCasePlugin).
// Times are milliseconds since the epoch (bigint columns); JSON is kept as text, so the same schema
// runs on SQLite and PostgreSQL.

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
  status: string;
  createdAt: number;
  updatedAt: number;
}

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
  applyError: string | null;
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
  createdAt: number;
  updatedAt: number;
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
  status: 'queued' | 'sending' | 'sent' | 'failed';
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
}

export interface SettingTable {
  key: string;
  value: string;
}

export interface Database {
  channels: ChannelTable;
  webhookEvents: WebhookEventTable;
  contacts: ContactTable;
  conversations: ConversationTable;
  messages: MessageTable;
  outbox: OutboxTable;
  comments: CommentTable;
  settings: SettingTable;
}
