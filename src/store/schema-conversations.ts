import type { ColumnType, Generated } from 'kysely';

// The conversations' tables: contacts, their conversations and messages, what came with them
// (media, comments, story mentions), agents' notes, and the record of an erasure (see schema.ts).

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
