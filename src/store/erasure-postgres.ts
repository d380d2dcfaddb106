import type { Kysely } from 'kysely';
import { comments, loggedEvents, rawEvents, whose } from './contact-rows.ts';
import { busyWith, type ErasedBy, type EraseResult, erase, recordErasure } from './erasure.ts';
import { keptFilesOf, removeFiles } from './kept-media.ts';
import type { Database } from './schema.ts';

// Erasing a contact on PostgreSQL: what erasure.ts erases, with the same busy rule and record, in
// one transaction. What differs from SQLite: the contact's rows are read inside the transaction by
// their columns (contact-rows.ts's `all`: no rowid slices; PostgreSQL's reads hold up neither
// writers nor the event loop), the event log's rows are blanked, not deleted (erased-events.ts), and
// there is no secure_delete: deleted tuples stay in the table's pages until VACUUM reclaims them
// (docs/postgres.md).
//
// SQLite has one writer; PostgreSQL's transactions run at once, so the rows work could start on are
// locked for the transaction: the contact's row (a second erasure waits, then finds it gone), their
// sends (the sender's claim waits, then finds a cancelled send) and their conversations' jobs (the
// queue's claim skips locked jobs; after the commit an engine job finds nothing).

export async function eraseContactPostgres(
  db: Kysely<Database>,
  contactId: string,
  by: ErasedBy,
  now: number,
): Promise<EraseResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await eraseOnce(db, contactId, by, now);
    } catch (e) {
      // Its locks met another transaction's in the other order: PostgreSQL failed this one; again.
      if ((e as { code?: string }).code !== DEADLOCK || attempt === 3) throw e;
    }
  }
}

const DEADLOCK = '40P01';

async function eraseOnce(
  db: Kysely<Database>,
  contactId: string,
  by: ErasedBy,
  now: number,
): Promise<EraseResult> {
  let files: string[] = [];
  const result = await db.transaction().execute(async (trx): Promise<EraseResult> => {
    const contact = await trx
      .selectFrom('contacts')
      .select(['id', 'channelId', 'igsid'])
      .where('id', '=', contactId)
      .forUpdate()
      .executeTakeFirst();
    if (!contact) return { status: 'gone' };
    const w = await whose(trx, contact);
    const conversations = w.conversationIds;
    const raw = await rawEvents.all(trx, w);
    const outbox = await trx
      .selectFrom('outbox')
      .select('id')
      .where('conversationId', 'in', conversations)
      .forUpdate()
      .execute();
    const jobs = await trx
      .selectFrom('jobs')
      .select('id')
      .where('key', 'in', conversations)
      .forUpdate()
      .execute();
    const busy = await busyWith(
      trx,
      w,
      raw.map((r) => Number(r.id)),
      outbox.map((r) => r.id),
    );
    if (busy) return { status: 'busy', reason: busy };
    files = await keptFilesOf(trx, conversations);
    const events = await loggedEvents.all(trx, w);
    const theirComments = await comments.all(trx, w);
    const counts = await erase(trx, w, {
      raw: raw.map((r) => Number(r.id)),
      outbox: outbox.map((r) => r.id),
      events: events.map((r) => Number(r.id)),
      comments: theirComments.map((r) => r.id),
      jobs: jobs.map((r) => Number(r.id)),
    });
    const erasure = await recordErasure(trx, contactId, w.channelId, by, counts, now);
    return { status: 'erased', erasure, conversationIds: conversations };
  });
  // The copies' files, once their rows are gone for good.
  if (result.status === 'erased') await removeFiles(files);
  return result;
}
