import type { Generated } from 'kysely';

// The channels' tables: a channel, what igdm knows of its token, Meta's data deletion requests, and
// the rate windows and holds its processes share on PostgreSQL (see schema.ts).

/**
 * What the sender knows of a channel: ok; throttled (Meta's rate limit, until it says); needs_token
 * (Meta refused the token: PATCH a new one); paused (blocked for policy, for an hour).
 */
export type ChannelHealth = 'ok' | 'throttled' | 'needs_token' | 'paused';

export type ChannelLogin = 'instagram' | 'facebook';

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
