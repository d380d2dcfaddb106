import type { Generated } from 'kysely';

// The event log and what carries it out: outbound webhook endpoints, their deliveries and each
// delivery's attempts (see schema.ts).

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
  /**
   * PostgreSQL: the snapshot (pg_snapshot's text) taken when it was made or enabled again, while
   * its place may still have events of transactions that committed before it after it (event-log.ts).
   */
  dispatchSnapshot: string | null;
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
