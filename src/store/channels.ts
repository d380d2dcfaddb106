import type { Kysely } from 'kysely';
import type { ChannelSettings } from '../config.ts';
import type { ChannelHealth, Database } from './schema.ts';
import type { SecretBox } from './secret-box.ts';

// Channels: one connected Instagram professional account each. Secrets are sealed in the store and
// opened only in memory.

export interface Channel {
  id: string;
  kind: string;
  accountId: string | null;
  pageId: string | null;
  appSecret: string;
  verifyToken: string;
  accessToken: string | null;
  graphApiUrl: string;
  graphApiVersion: string;
  allowSha1: boolean;
}

/** What the API and logs may show of a channel, with its health: no secrets. */
export function publicChannel(c: Channel, status: ChannelHealth) {
  return {
    id: c.id,
    kind: c.kind,
    accountId: c.accountId,
    pageId: c.pageId,
    graphApiUrl: c.graphApiUrl,
    graphApiVersion: c.graphApiVersion,
    status,
  };
}

export async function saveChannel(db: Kysely<Database>, box: SecretBox, s: ChannelSettings): Promise<void> {
  const now = Date.now();
  const secrets = box.seal(
    JSON.stringify({ appSecret: s.appSecret, verifyToken: s.verifyToken, accessToken: s.accessToken }),
  );
  const row = {
    kind: 'instagram',
    accountId: s.accountId,
    pageId: s.pageId,
    secrets,
    graphApiUrl: s.graphApiUrl,
    graphApiVersion: s.graphApiVersion,
    allowSha1: s.allowSha1 ? 1 : 0,
    updatedAt: now,
  };
  // Settings given anew (a new token, say) start the channel afresh.
  await db
    .insertInto('channels')
    .values({ id: s.id, ...row, status: 'ok', createdAt: now })
    .onConflict((oc) => oc.column('id').doUpdateSet({ ...row, status: 'ok' }))
    .execute();
}

export async function loadChannels(db: Kysely<Database>, box: SecretBox): Promise<Channel[]> {
  const rows = await db.selectFrom('channels').selectAll().orderBy('id').execute();
  return rows.map((r) => {
    const secrets = JSON.parse(box.open(r.secrets)) as Pick<
      Channel,
      'appSecret' | 'verifyToken' | 'accessToken'
    >;
    return {
      id: r.id,
      kind: r.kind,
      accountId: r.accountId,
      pageId: r.pageId,
      ...secrets,
      graphApiUrl: r.graphApiUrl,
      graphApiVersion: r.graphApiVersion,
      allowSha1: r.allowSha1 === 1,
    };
  });
}
