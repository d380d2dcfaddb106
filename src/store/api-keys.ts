import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

// API keys made through the API: each kept as the SHA-256 of the key, which is shown once. What a
// key may do (its scopes) and see (its channels) is read with it.

export const SCOPES = ['read', 'send', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKey {
  id: string;
  name: string;
  /** The person the key belongs to: what they do with it is recorded as theirs. */
  agent: string | null;
  /** The channels it sees; null for all. */
  channels: string[] | null;
  scopes: Scope[];
  /** The key's last characters. */
  hint: string;
  createdAt: number;
  revokedAt: number | null;
}

type Row = Database['apiKeys'];

const apiKeyOf = (r: Omit<Row, 'keyHash'>): ApiKey => ({
  id: r.id,
  name: r.name,
  agent: r.agent,
  channels: r.channels === null ? null : (JSON.parse(r.channels) as string[]),
  scopes: JSON.parse(r.scopes) as Scope[],
  hint: r.hint,
  createdAt: Number(r.createdAt),
  revokedAt: r.revokedAt === null ? null : Number(r.revokedAt),
});

const COLUMNS = ['id', 'name', 'agent', 'channels', 'scopes', 'hint', 'createdAt', 'revokedAt'] as const;

export async function insertApiKey(db: Kysely<Database>, key: ApiKey, keyHash: string): Promise<void> {
  await db
    .insertInto('apiKeys')
    .values({
      ...key,
      channels: key.channels === null ? null : JSON.stringify(key.channels),
      scopes: JSON.stringify(key.scopes),
      keyHash,
    })
    .execute();
}

/** Every key, newest first (revoked ones too). */
export async function listApiKeys(db: Kysely<Database>): Promise<ApiKey[]> {
  const rows = await db.selectFrom('apiKeys').select(COLUMNS).orderBy('createdAt', 'desc').execute();
  return rows.map(apiKeyOf);
}

/** The keys in force, by the hash of the key. */
export async function liveApiKeys(db: Kysely<Database>): Promise<Map<string, ApiKey>> {
  const rows = await db
    .selectFrom('apiKeys')
    .select([...COLUMNS, 'keyHash'])
    .where('revokedAt', 'is', null)
    .execute();
  return new Map(rows.map((r) => [r.keyHash, apiKeyOf(r)]));
}

/** Revokes a key; false when there is no such key in force. */
export async function revokeApiKey(db: Kysely<Database>, id: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('apiKeys')
    .set({ revokedAt: now })
    .where('id', '=', id)
    .where('revokedAt', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
