import type { Kysely, Selectable } from 'kysely';
import { type NewEvent, recordEvents } from './events.ts';
import type { ChannelHealth, ChannelLogin, ChannelTable, Database } from './schema.ts';
import type { SecretBox } from './secret-box.ts';

// Channels: one connected Instagram professional account each. Secrets are sealed in the store and
// opened only in memory. A deleted channel's row stays (its conversations name it), without its
// secrets; its account id stays until another channel connects the account.

export interface Channel {
  id: string;
  name: string;
  kind: string;
  login: ChannelLogin;
  accountId: string | null;
  pageId: string | null;
  appSecret: string;
  verifyToken: string;
  accessToken: string | null;
  graphApiUrl: string;
  graphApiVersion: string;
  allowSha1: boolean;
  /** The Meta app's id: debug_token tells the token's expiry with it (app id|app secret). */
  appId: string | null;
}

/** The fields of a channel that can be set (through the API, or the environment for `default`). */
export const CHANNEL_FIELDS = [
  'name',
  'login',
  'accountId',
  'pageId',
  'accessToken',
  'appSecret',
  'verifyToken',
  'graphApiUrl',
  'graphApiVersion',
  'appId',
] as const satisfies readonly (keyof Channel)[];
export type ChannelField = (typeof CHANNEL_FIELDS)[number];

/** Fields set through the API over the environment's values, each with the environment's value then. */
export type ApiFields = Partial<Record<ChannelField, { env: Channel[ChannelField] }>>;

export interface StoredChannel {
  channel: Channel;
  /** Null for a channel made through the API (it has no environment values to follow). */
  apiFields: ApiFields | null;
  deletedAt: number | null;
}

/** What the API and logs may show of a channel, with its health: no secrets, only whether each is set. */
export function publicChannel<T>(c: Channel, status: ChannelHealth, token: T) {
  return {
    id: c.id,
    name: c.name,
    kind: c.kind,
    login: c.login,
    accountId: c.accountId,
    pageId: c.pageId,
    graphApiUrl: c.graphApiUrl,
    graphApiVersion: c.graphApiVersion,
    appId: c.appId,
    status,
    token,
    secrets: {
      accessToken: Boolean(c.accessToken),
      appSecret: c.appSecret !== '',
      verifyToken: c.verifyToken !== '',
    },
  };
}

type Secrets = Pick<Channel, 'appSecret' | 'verifyToken' | 'accessToken'>;

function rowOf(box: SecretBox, c: Channel, apiFields: ApiFields | null, now: number) {
  const secrets: Secrets = { appSecret: c.appSecret, verifyToken: c.verifyToken, accessToken: c.accessToken };
  return {
    kind: c.kind,
    name: c.name,
    login: c.login,
    accountId: c.accountId,
    pageId: c.pageId,
    secrets: box.seal(JSON.stringify(secrets)),
    graphApiUrl: c.graphApiUrl,
    graphApiVersion: c.graphApiVersion,
    allowSha1: c.allowSha1 ? 1 : 0,
    appId: c.appId,
    apiFields: apiFields === null ? null : box.seal(JSON.stringify(apiFields)),
    updatedAt: now,
  };
}

function channelOf(box: SecretBox, r: Selectable<ChannelTable>): StoredChannel {
  const secrets = JSON.parse(box.open(r.secrets)) as Secrets;
  return {
    channel: {
      id: r.id,
      name: r.name ?? r.id,
      kind: r.kind,
      login: r.login,
      accountId: r.accountId,
      pageId: r.pageId,
      ...secrets,
      graphApiUrl: r.graphApiUrl,
      graphApiVersion: r.graphApiVersion,
      allowSha1: r.allowSha1 === 1,
      appId: r.appId ?? null,
    },
    apiFields: r.apiFields === null ? null : (JSON.parse(box.open(r.apiFields)) as ApiFields),
    deletedAt: r.deletedAt === null ? null : Number(r.deletedAt),
  };
}

/** One channel as stored, deleted or not. */
export async function readChannel(
  db: Kysely<Database>,
  box: SecretBox,
  id: string,
): Promise<StoredChannel | undefined> {
  const row = await db.selectFrom('channels').selectAll().where('id', '=', id).executeTakeFirst();
  return row && channelOf(box, row);
}

/** The channels not deleted, by id. */
export async function loadChannels(db: Kysely<Database>, box: SecretBox): Promise<Channel[]> {
  const rows = await db
    .selectFrom('channels')
    .selectAll()
    .where('deletedAt', 'is', null)
    .orderBy('id')
    .execute();
  return rows.map((r) => channelOf(box, r).channel);
}

/** The live channel that has the account, if any. */
export async function channelWithAccount(
  db: Kysely<Database>,
  accountId: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('channels')
    .select('id')
    .where('accountId', '=', accountId)
    .where('deletedAt', 'is', null)
    .executeTakeFirst();
  return row?.id;
}

/** The accounts of deleted channels: their webhooks are ignored, not given to another channel. */
export function deletedAccounts(
  db: Kysely<Database>,
): Promise<{ id: string; accountId: string | null; pageId: string | null }[]> {
  return db
    .selectFrom('channels')
    .select(['id', 'accountId', 'pageId'])
    .where('deletedAt', 'is not', null)
    .execute();
}

/** A deleted channel gives up its account (unique) to a channel connecting it again. */
export async function releaseAccount(db: Kysely<Database>, accountId: string): Promise<void> {
  await db
    .updateTable('channels')
    .set({ accountId: null })
    .where('accountId', '=', accountId)
    .where('deletedAt', 'is not', null)
    .execute();
}

/** A new channel. */
export async function insertChannel(
  db: Kysely<Database>,
  box: SecretBox,
  c: Channel,
  apiFields: ApiFields | null,
  now: number,
): Promise<void> {
  await db
    .insertInto('channels')
    .values({ id: c.id, ...rowOf(box, c, apiFields, now), status: 'ok', createdAt: now })
    .execute();
}

/** `channel.health` in the event log: the channel's health changed (to `status`). */
export const healthEvent = (channelId: string, status: ChannelHealth): NewEvent => ({
  event: 'channel.health',
  channelId,
  conversationId: null,
  data: { channelId, status },
});

/**
 * Writes a channel's settings, in the caller's transaction. `health`: `reset` starts the channel
 * afresh (ok: settings given anew at start); `freshToken` ends a wait for a new token (needs_token
 * becomes ok). A health changed so is `channel.health` in the event log, in the same write.
 */
export async function updateChannel(
  trx: Kysely<Database>,
  box: SecretBox,
  c: Channel,
  apiFields: ApiFields | null,
  now: number,
  health?: 'reset' | 'freshToken',
): Promise<void> {
  const row = rowOf(box, c, apiFields, now);
  // Read, then written, in one transaction: no other write comes between (store/write-gate.ts).
  const was = health
    ? (await trx.selectFrom('channels').select('status').where('id', '=', c.id).executeTakeFirst())?.status
    : undefined;
  const healed = health === 'reset' ? was !== undefined && was !== 'ok' : was === 'needs_token';
  await trx
    .updateTable('channels')
    .set({ ...row, ...(healed && { status: 'ok' as const }) })
    .where('id', '=', c.id)
    .execute();
  if (healed) await recordEvents(trx, [healthEvent(c.id, 'ok')], now);
}

/**
 * Deleted, in the caller's transaction: the row stays for the history, without its secrets; its
 * shared hold goes (channel_holds, send/shared-holds.ts: rows on PostgreSQL only, none on SQLite).
 */
export async function markDeleted(
  trx: Kysely<Database>,
  box: SecretBox,
  id: string,
  now: number,
): Promise<void> {
  const none: Secrets = { appSecret: '', verifyToken: '', accessToken: null };
  await trx
    .updateTable('channels')
    .set({
      deletedAt: now,
      updatedAt: now,
      secrets: box.seal(JSON.stringify(none)),
      apiFields: null,
    })
    .where('id', '=', id)
    .execute();
  await trx.deleteFrom('channelHolds').where('channelId', '=', id).execute();
}
