import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

// Settings: what igdm keeps for itself, by key (the API key's hash).

export async function readSetting(db: Kysely<Database>, key: string): Promise<string | undefined> {
  const row = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
  return row?.value;
}

export async function insertSetting(db: Kysely<Database>, key: string, value: string): Promise<void> {
  await db.insertInto('settings').values({ key, value }).execute();
}

/** Reads from the store: throws when it cannot (for /readyz). */
export async function probe(db: Kysely<Database>): Promise<void> {
  await db.selectFrom('settings').select('key').limit(1).execute();
}
