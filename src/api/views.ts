import type { Selectable } from 'kysely';
import type { z } from 'zod';
import type { BackfillReport as BackfillReportData } from '../backfill/backfill.ts';
import type { SubscriptionStatus } from '../backfill/subscription.ts';
import { eventView } from '../events/view.ts';
import { HUMAN_AGENT_WINDOW_MS, STANDARD_WINDOW_MS } from '../meta/policy.ts';
import type { ContactData } from '../store/contact-export.ts';
import type { Contact } from '../store/contacts.ts';
import type { ConversationWithContact, LastMessage } from '../store/conversations.ts';
import type { ContactErasure } from '../store/erasure.ts';
import type { KeptMedia } from '../store/kept-media.ts';
import type { Message } from '../store/messages.ts';
import type { Note } from '../store/notes.ts';
import type { OutboxTable } from '../store/schema.ts';
import type {
  BackfillReport,
  ContactErasure as ContactErasureSchema,
  ContactExport,
  Contact as ContactSchema,
  Conversation,
  Message as MessageSchema,
  Note as NoteSchema,
  SenderAction,
  WebhookSubscription,
} from './schemas.ts';

// How the API shows conversations and messages, in the shapes of schemas.ts. The store keeps some
// closed sets as plain strings (status, direction, author); the serializer checks them on the way out.

const WINDOW_MS = STANDARD_WINDOW_MS;
/** ISO time, or null for a time a Date cannot hold (Meta's timestamps are not trusted blindly). */
const iso = (ms: number | null) => {
  const d = new Date(Number(ms));
  return ms === null || Number.isNaN(d.getTime()) ? null : d.toISOString();
};

type ConversationOut = z.output<typeof Conversation>;
type MessageOut = z.output<typeof MessageSchema>;

function lastMessageOf(json: string | null): ConversationOut['lastMessage'] {
  if (json === null) return null;
  const m = JSON.parse(json) as LastMessage;
  return {
    id: m.id,
    direction: m.direction as 'inbound' | 'outbound',
    type: m.type,
    text: m.text,
    deletedAt: iso(m.deletedAt),
    createdAt: iso(m.createdAt),
  };
}

export function conversationView(c: ConversationWithContact, now: number): ConversationOut {
  const lastInbound = c.lastInboundAt === null ? null : Number(c.lastInboundAt);
  const closes = lastInbound === null ? null : lastInbound + WINDOW_MS;
  const humanCloses = lastInbound === null ? null : lastInbound + HUMAN_AGENT_WINDOW_MS;
  return {
    id: c.id,
    channelId: c.channelId,
    igsid: c.igsid,
    contact: {
      id: c.contactId,
      username: c.username ?? null,
      name: c.name ?? null,
      profilePic: c.profilePic ?? null,
    },
    status: c.status as ConversationOut['status'],
    threadOwner: c.threadOwner as ConversationOut['threadOwner'],
    intent: c.intent,
    tags: JSON.parse(c.tags) as string[],
    assignee: c.assignee,
    source: c.source === null ? null : (JSON.parse(c.source) as ConversationOut['source']),
    unread: Number(c.unread),
    notesCount: Number(c.notesCount),
    lastMessage: lastMessageOf(c.lastMessage),
    lastInboundAt: iso(lastInbound),
    lastMessageAt: iso(c.lastMessageAt),
    windowClosesAt: iso(closes),
    windowOpen: closes !== null && closes > now,
    /** Until when a human agent may still answer (with HUMAN_AGENT). */
    humanWindowClosesAt: iso(humanCloses),
    createdAt: iso(c.createdAt),
    updatedAt: iso(c.updatedAt),
  };
}

/** Meta's referral object (kept as it came) in the API's words. */
function referralView(raw: Record<string, unknown>): MessageOut['referral'] {
  const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : null);
  return {
    ref: text(raw['ref']),
    source: text(raw['source']),
    type: text(raw['type']),
    adId: text(raw['ad_id']),
    adsContextData: raw['ads_context_data'] ?? null,
  };
}

/** A message's attachments, each with igdm's copy of it when there is one (`kept`). */
function attachmentsOf(m: Message, kept: KeptMedia[] = []): unknown[] {
  const all = JSON.parse(m.attachments) as Record<string, unknown>[];
  return all.map((a, index) => {
    const copy = kept.find((k) => k.attachmentIndex === index);
    return copy
      ? {
          ...a,
          kept: {
            id: copy.id,
            url: `/v1/media/${copy.id}`,
            contentType: copy.contentType,
            bytes: Number(copy.bytes),
          },
        }
      : a;
  });
}

export function messageView(m: Message, kept?: KeptMedia[]): MessageOut {
  return {
    id: m.id,
    mid: m.mid,
    conversationId: m.conversationId,
    channelId: m.channelId,
    direction: m.direction as MessageOut['direction'],
    type: m.type,
    text: m.text,
    attachments: attachmentsOf(m, kept),
    replyTo: m.replyTo === null ? null : (JSON.parse(m.replyTo) as unknown),
    payload: m.payload,
    referral: m.referral === null ? null : referralView(JSON.parse(m.referral) as Record<string, unknown>),
    reactions: (
      JSON.parse(m.reactions) as { by: string; reaction: string; emoji: string | null; at: number }[]
    ).map((r) => ({ ...r, at: iso(r.at) })),
    status: m.status,
    error: m.error === null ? null : (JSON.parse(m.error) as unknown),
    isEcho: m.isEcho === 1,
    /** Sent again though Meta could not say whether an earlier try had gone: it may show twice. */
    possibleDuplicate: m.possibleDuplicate === 1,
    backfilled: m.backfilled === 1,
    /** customer, bot, human (an agent, or someone in the Instagram app) or api. */
    author: (m.author ?? (m.direction === 'inbound' ? 'customer' : null)) as MessageOut['author'],
    approvalId: m.approvalId ?? null,
    agent: m.agent ?? null,
    editedAt: iso(m.editedAt),
    deletedAt: iso(m.deletedAt),
    seenAt: iso(m.seenAt),
    createdAt: iso(m.createdAt),
  };
}

/** A sender action (typing, seen, reaction) has no message of its own: its outbox row tells. */
export function senderActionView(o: Selectable<OutboxTable>): z.output<typeof SenderAction> {
  return { id: o.id, type: o.kind, status: o.status, error: o.error ? JSON.parse(o.error) : null };
}

export const noteView = (n: Note): z.output<typeof NoteSchema> => ({
  id: n.id,
  conversationId: n.conversationId,
  text: n.text,
  author: n.author,
  createdAt: iso(n.createdAt),
});

export const contactView = (c: Contact): z.output<typeof ContactSchema> => ({
  id: c.id,
  channelId: c.channelId,
  igsid: c.igsid,
  username: c.username,
  name: c.name,
  profilePic: c.profilePic,
  profileCheckedAt: iso(c.profileCheckedAt),
  createdAt: iso(c.createdAt),
  updatedAt: iso(c.updatedAt),
});

const json = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

/** Everything igdm holds about a contact (GET /v1/contacts/:id/export). */
export function exportView(d: ContactData, now: number): z.output<typeof ContactExport> {
  return {
    exportedAt: new Date(now).toISOString(),
    contact: contactView(d.contact),
    conversations: d.conversations.map((c) => conversationView(c, now)),
    messages: d.messages.map((m) => messageView(m)),
    notes: d.notes.map(noteView),
    storyMentions: d.storyMentions.map((m) => ({
      id: m.id,
      conversationId: m.conversationId,
      mid: m.mid,
      storyId: m.storyId,
      mediaUrl: m.mediaUrl,
      createdAt: iso(m.createdAt),
    })),
    sends: d.sends.map((o) => ({
      id: o.id,
      messageId: o.messageId,
      conversationId: o.conversationId,
      kind: o.kind,
      status: o.status,
      attempts: Number(o.attempts),
      body: json(o.body),
      mid: o.mid,
      error: json(o.error),
      createdAt: iso(o.createdAt),
      sentAt: iso(o.sentAt),
    })),
    comments: d.comments.map((c) => ({
      id: c.id,
      commentId: c.commentId,
      mediaId: c.mediaId,
      parentId: c.parentId,
      username: c.username,
      text: c.text,
      createdAt: iso(c.createdAt),
    })),
    events: d.events.map((e) =>
      eventView({
        ...e,
        id: Number(e.id),
        createdAt: Number(e.createdAt),
        data: JSON.parse(e.data) as Record<string, unknown>,
      }),
    ),
    webhookEvents: d.webhookEvents.map((e) => ({
      id: Number(e.id),
      object: e.object,
      source: e.source,
      kind: e.kind,
      entryId: e.entryId,
      metaTimestamp: iso(e.metaTimestamp),
      receivedAt: iso(e.receivedAt),
      appliedAt: iso(e.appliedAt),
      applyError: e.applyError,
      payload: JSON.parse(e.payload) as unknown,
    })),
  };
}

export const erasureView = (e: ContactErasure): z.output<typeof ContactErasureSchema> => ({
  id: e.id,
  contactId: e.contactId,
  channelId: e.channelId,
  erasedAt: new Date(Number(e.erasedAt)).toISOString(),
  erasedBy: { keyId: e.keyId, agent: e.agent },
  counts: e.counts,
});

export const subscriptionView = (s: SubscriptionStatus | null): z.output<typeof WebhookSubscription> | null =>
  s && { state: s.state, fields: s.fields, checkedAt: iso(s.checkedAt)!, detail: s.detail };

export const reportView = (r: BackfillReportData): z.output<typeof BackfillReport> => ({
  channelId: r.channelId,
  trigger: r.trigger,
  since: iso(r.since)!,
  startedAt: iso(r.startedAt)!,
  finishedAt: iso(r.finishedAt)!,
  conversationsChecked: r.conversationsChecked,
  messagesRecovered: r.messagesRecovered,
  possiblyMissing: r.possiblyMissing.map((p) => ({ ...p, oldestShownAt: iso(p.oldestShownAt)! })),
  subscription: subscriptionView(r.subscription)!,
  error: r.error,
});
