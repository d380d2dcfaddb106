import type { Kysely, Selectable } from 'kysely';
import { after, type Page, type PageKey, pageOf } from './pages.ts';
import type { Database, MessageTable } from './schema.ts';

// Messages: what the customer and the business wrote in a conversation, stored by the projector
// (inbound, echoes) and by the outbox (what igdm sends); read here.

export type Message = Selectable<MessageTable>;

/** A message as the AI reads the conversation. */
export type Turn = Pick<Message, 'direction' | 'type' | 'text'>;

/** Asked by every engine job: compiled once (store/prepared.ts). */
export const findMessage = (db: Kysely<Database>, id: string) =>
  db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();

/** A conversation's messages in the order of their time. */
export async function listMessages(
  db: Kysely<Database>,
  conversationId: string,
  page: { order: 'asc' | 'desc'; limit: number; after?: PageKey },
): Promise<Page<Message>> {
  const { order, limit } = page;
  let query = db
    .selectFrom('messages')
    .selectAll()
    .where('conversationId', '=', conversationId)
    .orderBy('createdAt', order)
    .orderBy('id', order)
    .limit(limit + 1);
  const key = page.after;
  if (key) query = query.where((eb) => after(eb, key, order === 'desc' ? '<' : '>', 'createdAt', 'id'));
  return pageOf(await query.execute(), limit);
}

/**
 * The last `limit` messages of a conversation up to `upTo`, oldest first, as the AI reads them:
 * the customer's later messages left out, the business's all in; none deleted or failed.
 */
export async function lastTurns(
  db: Kysely<Database>,
  conversationId: string,
  upTo: number,
  limit: number,
): Promise<Turn[]> {
  const rows = await db
    .selectFrom('messages')
    .select(['direction', 'type', 'text'])
    .where('conversationId', '=', conversationId)
    .where((eb) => eb.or([eb('createdAt', '<=', upTo), eb('direction', '=', 'outbound')]))
    .where('deletedAt', 'is', null)
    .where('status', '!=', 'failed')
    .orderBy('createdAt', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.reverse();
}

export async function setAuthor(db: Kysely<Database>, id: string, author: string | null, now: number) {
  await db.updateTable('messages').set({ author, updatedAt: now }).where('id', '=', id).execute();
}
