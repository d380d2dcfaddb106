// What igdm's API answers about webhooks: the events Meta delivered (and what became of them),
// customers, and the outbound webhook endpoints and their deliveries. Re-exported by types.ts.

import type { Conversation } from './types.ts';

/** applied; unapplied: igdm could not read or apply it (`igdm replay --unapplied` tries again); ignored: on purpose. */
export type WebhookEventStatus = 'applied' | 'unapplied' | 'ignored';

/** A webhook event as stored, and what became of it (GET /v1/webhook-events). */
export interface WebhookEvent {
  id: number;
  /** null: no channel has the event's account. */
  channelId: string | null;
  kind: string;
  object: string;
  /** messaging, standby, changes or unknown. */
  source: string;
  status: WebhookEventStatus;
  /** Why it was not applied; null when it was. */
  reason: string | null;
  receivedAt: string;
  /** The item exactly as Meta sent it. */
  raw: unknown;
}

/** A customer, with their profile as Meta's user profile API gave it. */
export interface Contact {
  id: string;
  channelId: string;
  igsid: string;
  username: string | null;
  name: string | null;
  /** A CDN URL from Meta's profile API; it expires. */
  profilePic: string | null;
  profileCheckedAt: string | null;
  createdAt: string | null;
  updatedAt: string | null;
}

export interface ContactWithConversations extends Contact {
  conversations: Conversation[];
}

export interface WebhookEndpoint {
  id: string;
  url: string;
  description: string | null;
  /** Event names, or ["*"] for all. */
  events: string[];
  /** Its channels; null for all. */
  channels: string[] | null;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

/** An endpoint just made (or its secret rotated): `secret` (`whsec_…`) is shown this once. */
export interface WebhookEndpointWithSecret extends WebhookEndpoint {
  secret: string;
}

export type DeliveryStatus = 'pending' | 'succeeded' | 'failed' | 'cancelled';

export interface DeliveryAttempt {
  attempt: number;
  at: string;
  /** The receiver's HTTP status; null when none came. */
  status: number | null;
  error: string | null;
  /** The start of the receiver's answer. */
  response: string | null;
  durationMs: number;
}

export interface WebhookDelivery {
  id: string;
  endpointId: string | null;
  /** A rule's `webhook` action: the rule. */
  rule: string | null;
  event: string;
  eventId: string | null;
  /** The webhook-id header: the same on every attempt. */
  webhookId: string;
  channelId: string;
  conversationId: string | null;
  status: DeliveryStatus;
  attempts: DeliveryAttempt[];
  nextAttemptAt: string | null;
  lastError: string | null;
  createdAt: string;
}
