import { rm } from 'node:fs/promises';
import type { Kysely, Selectable } from 'kysely';
import type { Database, KeptMediaTable } from './schema.ts';

// Copies of inbound media (media/keeper.ts writes them): found by message for the API's views, by id
// for GET /v1/media/:id, by age when the space they take passes its cap, and by conversation when a
// contact's data is erased.

export type KeptMedia = Selectable<KeptMediaTable>;

export async function saveKeptMedia(db: Kysely<Database>, row: KeptMedia): Promise<void> {
  await db
    .insertInto('keptMedia')
    .values(row)
    .onConflict((oc) => oc.column('id').doUpdateSet(row))
    .execute();
}

export const findKeptMedia = (db: Kysely<Database>, id: string) =>
  db.selectFrom('keptMedia').selectAll().where('id', '=', id).executeTakeFirst();

/** The copies of these messages' attachments, by message id. */
export async function keptMediaOf(
  db: Kysely<Database>,
  messageIds: string[],
): Promise<Map<string, KeptMedia[]>> {
  const byMessage = new Map<string, KeptMedia[]>();
  if (messageIds.length === 0) return byMessage;
  const rows = await db
    .selectFrom('keptMedia')
    .selectAll()
    .where('messageId', 'in', messageIds)
    .where('status', '=', 'kept')
    .execute();
  for (const r of rows) byMessage.set(r.messageId, [...(byMessage.get(r.messageId) ?? []), r]);
  return byMessage;
}

/** Bytes the kept copies take. */
export async function keptBytes(db: Kysely<Database>): Promise<number> {
  const r = await db
    .selectFrom('keptMedia')
    .select((eb) => eb.fn.sum<number>('bytes').as('total'))
    .where('status', '=', 'kept')
    .executeTakeFirst();
  return Number(r?.total ?? 0);
}

/** Deletes the oldest copies until they take at most `maxBytes`; how many went. */
export async function trimKeptMedia(db: Kysely<Database>, maxBytes: number): Promise<number> {
  let total = await keptBytes(db);
  let removed = 0;
  while (total > maxBytes) {
    const oldest = await db
      .selectFrom('keptMedia')
      .select(['id', 'file', 'bytes'])
      .where('status', '=', 'kept')
      .orderBy('createdAt')
      .orderBy('id')
      .limit(50)
      .execute();
    if (oldest.length === 0) break;
    for (const r of oldest) {
      if (total <= maxBytes) break;
      await db.deleteFrom('keptMedia').where('id', '=', r.id).execute();
      if (r.file) await rm(r.file, { force: true });
      total -= Number(r.bytes);
      removed++;
    }
  }
  return removed;
}

/** The files of these conversations' copies (read in the erasure's transaction, removed after it). */
export const keptFilesOf = async (db: Kysely<Database>, conversationIds: string[]) =>
  conversationIds.length === 0
    ? []
    : (
        await db
          .selectFrom('keptMedia')
          .select('file')
          .where('conversationId', 'in', conversationIds)
          .where('file', 'is not', null)
          .execute()
      ).map((r) => r.file!);

export async function removeFiles(files: string[]): Promise<void> {
  for (const f of files) await rm(f, { force: true });
}
