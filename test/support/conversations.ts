import { expect } from 'vitest';
import { ACCOUNT_ID, mid, type TestService } from './service.ts';

// Reading conversations and messages back through the REST API, and the messaging items of Meta's
// webhooks that test/support/service.ts does not build (echo, reaction, read, unsend, edit, ...).

export interface ConversationJson {
  id: string;
  channelId: string;
  igsid: string;
  contact: { id: string; username: string | null; name: string | null; profilePic: string | null };
  status: string;
  threadOwner: string;
  assignee: string | null;
  source: { ref: string | null; source: string | null; type: string | null; adId: string | null } | null;
  unread: number;
  notesCount: number;
  lastInboundAt: string | null;
  lastMessageAt: string | null;
  windowClosesAt: string | null;
  windowOpen: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface MessageJson {
  id: string;
  mid: string;
  conversationId: string;
  channelId: string;
  direction: 'inbound' | 'outbound';
  type: string;
  text: string | null;
  attachments: { type: string; url?: string; title?: string; mediaId?: string; payload: object }[];
  replyTo: unknown;
  payload: string | null;
  referral: unknown;
  reactions: { by: string; reaction: string; emoji: string | null; at: string }[];
  status: string;
  isEcho: boolean;
  editedAt: string | null;
  deletedAt: string | null;
  seenAt: string | null;
  createdAt: string;
}

export interface Page<T> {
  data: T[];
  nextCursor: string | null;
}

/** GETs an API path and returns its JSON, failing the test on any status but 200. */
export async function getJson<T>(svc: TestService, path: string): Promise<T> {
  const res = await svc.api(path);
  const body = (await res.json()) as T;
  expect(res.status, `${path}: ${JSON.stringify(body)}`).toBe(200);
  return body;
}

/** Every conversation, walking the pages of GET /v1/conversations. */
export async function allConversations(svc: TestService, limit = 200): Promise<ConversationJson[]> {
  const out: ConversationJson[] = [];
  let cursor: string | null = null;
  do {
    const q: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
    const page: Page<ConversationJson> = await getJson(svc, `/v1/conversations?limit=${limit}${q}`);
    out.push(...page.data);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return out;
}

/** The customer's conversation (found through the list), or undefined. */
export async function conversationOf(svc: TestService, igsid: string): Promise<ConversationJson | undefined> {
  return (await allConversations(svc)).find((c) => c.igsid === igsid);
}

/** Every message of a conversation, oldest first, walking the pages of its messages. */
export async function allMessages(
  svc: TestService,
  conversationId: string,
  opts: { limit?: number; order?: 'asc' | 'desc' } = {},
): Promise<MessageJson[]> {
  const out: MessageJson[] = [];
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams({ limit: String(opts.limit ?? 200), order: opts.order ?? 'asc' });
    if (cursor !== null) q.set('cursor', cursor);
    const page: Page<MessageJson> = await getJson(svc, `/v1/conversations/${conversationId}/messages?${q}`);
    out.push(...page.data);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return out;
}

/** The customer's conversation and its messages (oldest first); fails when there is none. */
export async function threadOf(svc: TestService, igsid: string) {
  const conversation = await conversationOf(svc, igsid);
  expect(conversation, `a conversation with ${igsid}`).toBeDefined();
  const messages = await allMessages(svc, conversation!.id);
  return { conversation: conversation!, messages };
}

/** POSTs webhook bodies one after the other (each must be acknowledged), then waits until applied. */
export async function deliver(svc: TestService, ...bodies: object[]) {
  for (const body of bodies) {
    const res = await svc.post(body);
    expect(res.status, await res.text()).toBe(200);
  }
  await svc.settled();
}

let customers = 0;
/** A fresh customer IGSID, so tests sharing a service do not see each other's conversations. */
export const newIgsid = () => `${9_000_000_000_000 + process.pid * 1000 + ++customers}`;

// ---------- messaging items as Meta sends them ----------

const envelope = (igsid: string, timestamp: number) => ({
  sender: { id: igsid },
  recipient: { id: ACCOUNT_ID },
  timestamp,
});

/** A customer's message with any `message` fields (mid generated unless given). */
export const messageItem = (igsid: string, timestamp: number, message: Record<string, unknown>) => ({
  ...envelope(igsid, timestamp),
  message: { mid: mid(), ...message },
});

/** A message the business account sent, echoed back: sender is the account, recipient the customer. */
export const echoItem = (igsid: string, timestamp: number, message: Record<string, unknown>) => ({
  sender: { id: ACCOUNT_ID },
  recipient: { id: igsid },
  timestamp,
  message: { mid: mid('echo'), is_echo: true, ...message },
});

export const reactionItem = (
  igsid: string,
  timestamp: number,
  messageMid: string,
  action: 'react' | 'unreact',
  reaction = 'love',
) => ({
  ...envelope(igsid, timestamp),
  reaction:
    action === 'react'
      ? { mid: messageMid, action, reaction, emoji: '\u2764\ufe0f' }
      : { mid: messageMid, action },
});

export const unsendItem = (igsid: string, timestamp: number, messageMid: string) => ({
  ...envelope(igsid, timestamp),
  message: { mid: messageMid, is_deleted: true },
});

export const editItem = (
  igsid: string,
  timestamp: number,
  messageMid: string,
  text: string,
  numEdit = 1,
) => ({
  ...envelope(igsid, timestamp),
  message_edit: { mid: messageMid, text, num_edit: numEdit },
});

export const readItem = (igsid: string, timestamp: number, messageMid: string) => ({
  ...envelope(igsid, timestamp),
  read: { mid: messageMid },
});

export const postbackItem = (igsid: string, timestamp: number, title: string, payload: string) => ({
  ...envelope(igsid, timestamp),
  postback: { mid: mid('pb'), title, payload },
});

export const referralItem = (
  igsid: string,
  timestamp: number,
  referral: Record<string, unknown> = { ref: 'summer-sale', source: 'SHORTLINKS', type: 'OPEN_THREAD' },
) => ({ ...envelope(igsid, timestamp), referral });

export const iso = (ms: number) => new Date(ms).toISOString();
export const DAY_MS = 24 * 60 * 60 * 1000;
