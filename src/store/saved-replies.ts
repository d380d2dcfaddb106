import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Database, SavedReplyTable } from './schema.ts';

// Saved replies: texts the team sends again and again, each picked by its shortcut (unique, as the
// API lower-cases it). Shared by every key: they belong to no channel.

export type SavedReply = Selectable<SavedReplyTable>;

const savedReplyId = () => `sr_${randomBytes(12).toString('base64url')}`;

const of = (r: SavedReply): SavedReply => ({
  ...r,
  createdAt: Number(r.createdAt),
  updatedAt: Number(r.updatedAt),
});

/** Every saved reply, by shortcut. */
export async function listSavedReplies(db: Kysely<Database>): Promise<SavedReply[]> {
  const rows = await db.selectFrom('savedReplies').selectAll().orderBy('shortcut').execute();
  return rows.map(of);
}

export async function findSavedReply(db: Kysely<Database>, id: string): Promise<SavedReply | undefined> {
  const row = await db.selectFrom('savedReplies').selectAll().where('id', '=', id).executeTakeFirst();
  return row && of(row);
}

/** A new saved reply, or `exists` when its shortcut is taken. */
export async function insertSavedReply(
  db: Kysely<Database>,
  reply: { shortcut: string; text: string },
  now: number,
): Promise<SavedReply | 'exists'> {
  const row: SavedReply = { id: savedReplyId(), ...reply, createdAt: now, updatedAt: now };
  const r = await db
    .insertInto('savedReplies')
    .values(row)
    .onConflict((oc) => oc.column('shortcut').doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0n) === 1 ? row : 'exists';
}

/**
 * Changes a saved reply: the changed row, `not_found`, or `exists` when the new shortcut is
 * another's. Read and written in one transaction (the store's writes come one at a time).
 */
export function updateSavedReply(
  db: Kysely<Database>,
  id: string,
  change: { shortcut?: string; text?: string },
  now: number,
): Promise<SavedReply | 'not_found' | 'exists'> {
  return db.transaction().execute(async (trx) => {
    const current = await findSavedReply(trx, id);
    if (!current) return 'not_found';
    if (change.shortcut !== undefined && change.shortcut !== current.shortcut) {
      const taken = await trx
        .selectFrom('savedReplies')
        .select('id')
        .where('shortcut', '=', change.shortcut)
        .executeTakeFirst();
      if (taken) return 'exists';
    }
    const updated = { ...current, ...change, updatedAt: now };
    await trx
      .updateTable('savedReplies')
      .set({ shortcut: updated.shortcut, text: updated.text, updatedAt: now })
      .where('id', '=', id)
      .execute();
    return updated;
  });
}

/** Deletes a saved reply; false when there is none. */
export async function deleteSavedReply(db: Kysely<Database>, id: string): Promise<boolean> {
  const r = await db.deleteFrom('savedReplies').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
