import { SandboxCdn } from './cdn.ts';
import { CustomerBook } from './customers.ts';
import { WebhookDelivery } from './delivery.ts';
import { FailureQueue, HeldRequests } from './failures.ts';
import { Journal } from './journal.ts';
import { SendLimiter } from './rate-limit.ts';

// Everything the sandbox remembers, in memory: customers and their windows, the messages and
// comments it knows, what the gateway sent, pending failures, the account's settings.

export interface SandboxOptions {
  appSecret: string;
  accessToken: string;
  /** The IG professional account id: entry[].id of webhooks, recipient.id of inbound messages. */
  accountId: string;
  /** Where signed webhooks go, e.g. http://127.0.0.1:3000/webhooks/meta (read at each delivery). */
  webhookUrl: () => string;
  /**
   * Where the sandbox's CDN routes are reached, e.g. http://127.0.0.1:3000/sandbox/cdn: customers'
   * media links point there (cdn.ts). Without it, they point to Meta's CDN and never resolve.
   */
  cdnUrl?: () => string;
  /** The clock (ms); Date.now by default. Tests move it to cross the 24 h and 7 d windows. */
  now?: () => number;
  /** Send API calls per second for text, links, reactions, stickers (Meta: 100). */
  sendRatePerSecond?: number;
  /** Send API calls per second with audio or video (Meta: 10). */
  mediaRatePerSecond?: number;
  /** A linked Page id also accepted as the sending node (Facebook Login). */
  pageId?: string;
  /** The app id in echoes, debug_token and thread ownership. */
  appId?: string;
  /** How long an injected "timeout" holds a request before answering 504 (default 30 s). */
  timeoutHoldMs?: number;
  /** Delay before an echo is delivered after a send (default 0: right after the answer). */
  echoDelayMs?: number;
  /**
   * Refuse the token once expired (60 days after its issue or last refresh), as Meta does. Off by
   * default: tests that move the clock by months do not all wait for a refresh.
   */
  expireTokens?: boolean;
}

export interface ResolvedOptions extends Required<Omit<SandboxOptions, 'pageId' | 'cdnUrl'>> {
  pageId: string | null;
}

export interface KnownMessage {
  mid: string;
  igsid: string;
  direction: 'inbound' | 'outbound';
  time: number;
  text?: string;
  attachments?: unknown[];
  /** Story mentions: what GET /{mid}?fields=story answers. */
  story?: { mention: { link: string; id: string } };
}

/** An uploaded attachment: by URL, or a file (its bytes are not kept, only what it was). */
export interface KnownAttachment {
  type: string;
  /** The URL it was uploaded from, or a CDN-like one for a file. */
  url: string;
  file?: { filename: string; contentType: string; size: number };
}

export interface KnownComment {
  id: string;
  igsid: string;
  time: number;
  text: string;
  mediaId: string;
  /** When the private reply was sent; a comment gets one. */
  repliedAt: number | null;
  /** The comment it answers (a reply). */
  parentId: string | null;
  /** Hidden by the account (POST /{comment-id}?hide=true). */
  hidden: boolean;
  /** Deleted (DELETE /{comment-id}): it can no longer be answered. */
  deleted: boolean;
}

export interface OutboxEntry {
  time: number;
  method: string;
  path: string;
  /** The parameters sent (query and body, without the access token). */
  body: unknown;
  /** What the sandbox answered: HTTP status (null when it never answered) and body. */
  answer: { status: number | null; body: unknown };
  messageId: string | null;
  recipientId: string | null;
  /** The injected failure this call got, if any. */
  failure: string | null;
}

export interface CallRecord {
  time: number;
  method: string;
  path: string;
  edge: string;
  status: number | null;
  failure: string | null;
  /** An answer spoiled after delivery (answer-faults.ts): bytes written, and whether the client cut it. */
  answer?: { bytes: number; cut: boolean };
}

/** The access token's life: Instagram Login's long-lived tokens last 60 days from issue or refresh. */
export interface TokenLife {
  issuedAt: number;
  expiresAt: number;
}

/** 60 days, as Meta gives long-lived Instagram tokens. */
export const TOKEN_LIFETIME_MS = 60 * 24 * 3_600_000;

export interface SandboxState {
  readonly options: ResolvedOptions;
  /** The current token's (options.accessToken's) life; refresh_access_token renews both. */
  readonly token: TokenLife;
  now(): number;
  readonly customers: CustomerBook;
  readonly messages: Map<string, KnownMessage>;
  readonly comments: Map<string, KnownComment>;
  /** Attachment ids issued by POST /{id}/message_attachments. */
  readonly attachments: Map<string, KnownAttachment>;
  readonly messengerProfile: { ice_breakers?: unknown[]; persistent_menu?: unknown[] };
  subscribedFields: string[];
  /** Thread owner app id per IGSID (absent: this app). */
  readonly threadOwners: Map<string, string>;
  readonly limiter: SendLimiter;
  readonly failures: FailureQueue;
  readonly held: HeldRequests;
  readonly delivery: WebhookDelivery;
  /** Send API calls (POST .../messages), newest last. */
  readonly outbox: Journal<OutboxEntry>;
  /** Every Graph call, newest last. */
  readonly calls: Journal<CallRecord>;
  /** Remembers a message, forgetting the oldest beyond the cap. */
  remember(message: KnownMessage): void;
  /** Meta's CDN: the customers' media. */
  readonly cdn: SandboxCdn;
  /** Cuts held requests and stops deliveries; the state stays readable. */
  close(): void;
}

const MESSAGE_CAP = 20_000;

export function createSandboxState(options: SandboxOptions): SandboxState {
  for (const key of ['appSecret', 'accessToken', 'accountId'] as const) {
    if (typeof options[key] !== 'string' || options[key] === '')
      throw new Error(`sandbox: ${key} must be a non-empty string`);
  }
  const resolved: ResolvedOptions = {
    appSecret: options.appSecret,
    accessToken: options.accessToken,
    accountId: options.accountId,
    webhookUrl: options.webhookUrl,
    now: options.now ?? Date.now,
    sendRatePerSecond: options.sendRatePerSecond ?? 100,
    mediaRatePerSecond: options.mediaRatePerSecond ?? 10,
    pageId: options.pageId ?? null,
    appId: options.appId ?? '1234567890123456',
    timeoutHoldMs: options.timeoutHoldMs ?? 30_000,
    echoDelayMs: options.echoDelayMs ?? 0,
    expireTokens: options.expireTokens ?? false,
  };
  const now = resolved.now;
  const messages = new Map<string, KnownMessage>();
  const delivery = new WebhookDelivery({
    appSecret: resolved.appSecret,
    webhookUrl: resolved.webhookUrl,
    now,
  });
  const held = new HeldRequests();
  return {
    options: resolved,
    token: { issuedAt: now(), expiresAt: now() + TOKEN_LIFETIME_MS },
    now,
    customers: new CustomerBook(),
    messages,
    comments: new Map(),
    attachments: new Map(),
    messengerProfile: {},
    subscribedFields: [],
    threadOwners: new Map(),
    limiter: new SendLimiter({ send: resolved.sendRatePerSecond, media: resolved.mediaRatePerSecond }),
    failures: new FailureQueue(),
    held,
    delivery,
    outbox: new Journal<OutboxEntry>(1000),
    calls: new Journal<CallRecord>(1000),
    cdn: new SandboxCdn(options.cdnUrl ?? null),
    remember(message) {
      messages.set(message.mid, message);
      if (messages.size > MESSAGE_CAP) messages.delete(messages.keys().next().value!);
    },
    close() {
      held.release();
      delivery.close();
    },
  };
}
