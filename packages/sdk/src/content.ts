// What a message may hold, as igdm's POST /v1/messages takes it (src/meta/send.ts in igdm, the
// README's "Sending"). igdm checks each against Meta's limits and answers 422 invalid_content,
// naming each field, for what Meta would refuse.

export interface QuickReply {
  contentType?: 'text';
  /** At most 20 characters. */
  title: string;
  payload: string;
}

export interface TextContent {
  type: 'text';
  /** At most 1000 bytes (UTF-8). */
  text: string;
  /** At most 13. */
  quickReplies?: QuickReply[];
}

/** A media file by its https URL, or by an attachment id Meta issued. */
export type Media =
  | { url: string; attachmentId?: never; isReusable?: boolean }
  | { attachmentId: string; url?: never; isReusable?: boolean };

export interface ImageContent {
  type: 'image';
  image: Media;
}
export interface VideoContent {
  type: 'video';
  video: Media;
}
export interface AudioContent {
  type: 'audio';
  audio: Media;
}
export interface FileContent {
  type: 'file';
  file: Media;
}

/** The heart sticker. */
export interface StickerContent {
  type: 'sticker';
  sticker: { id: 'like' };
}

/** One of the account's own posts. */
export interface MediaShareContent {
  type: 'media_share';
  mediaShare: { id: string };
}

export type Button =
  | { type: 'web_url'; title: string; url: string }
  | { type: 'postback'; title: string; payload: string };

export interface TemplateElement {
  title: string;
  subtitle?: string;
  imageUrl?: string;
  defaultAction?: { type?: 'web_url'; url: string };
  buttons?: Button[];
}

export interface TemplateContent {
  type: 'template';
  template:
    | { type: 'generic'; elements: TemplateElement[] }
    | { type: 'button'; text: string; buttons: Button[] };
}

export type Reaction = 'like' | 'love' | 'laugh' | 'wow' | 'sad' | 'angry' | 'other';

/** A reaction to a message (its mid); `reaction: null` removes igdm's. Default: love. */
export interface ReactionContent {
  type: 'reaction';
  messageId: string;
  reaction?: Reaction | null;
}

/** The typing indicator; `on: false` stops it. */
export interface TypingContent {
  type: 'typing';
  on?: boolean;
}

/** Marks the conversation seen. */
export interface MarkSeenContent {
  type: 'mark_seen';
}

export type Content =
  | TextContent
  | ImageContent
  | VideoContent
  | AudioContent
  | FileContent
  | StickerContent
  | MediaShareContent
  | TemplateContent
  | ReactionContent
  | TypingContent
  | MarkSeenContent;
