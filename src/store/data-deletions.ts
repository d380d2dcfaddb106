import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Database, DataDeletionRequestTable } from './schema.ts';

// Meta's data deletion requests, by confirmation code: what the status page shows. The person's id
// is not kept: it is what they asked igdm to forget.

export type DataDeletionRequest = Selectable<DataDeletionRequestTable>;

/** An alphanumeric confirmation code, as Meta asks for. */
export const newConfirmationCode = () => randomBytes(12).toString('hex');

export async function recordDataDeletion(db: Kysely<Database>, r: DataDeletionRequest): Promise<void> {
  await db.insertInto('dataDeletionRequests').values(r).execute();
}

export async function findDataDeletion(
  db: Kysely<Database>,
  code: string,
): Promise<DataDeletionRequest | undefined> {
  const row = await db
    .selectFrom('dataDeletionRequests')
    .selectAll()
    .where('code', '=', code)
    .executeTakeFirst();
  return row && { ...row, receivedAt: Number(row.receivedAt), contacts: Number(row.contacts) };
}
