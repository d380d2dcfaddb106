import type { Kysely, Selectable } from 'kysely';
import { builder } from './builder.ts';
import { after, type Page, type PageKey, pageOf } from './pages.ts';
import { compile, param as p } from './prepared.ts';
import type { ContactTable, ConversationTable, Database } from './schema.ts';

// Conversations: one per customer and channel, with their status, owner (bot or human), intent and
// tags. Created and advanced by the projector (src/projection/); read and changed here.

export type NewConversation = {
  id: string;
  channelId: string;
  igsid: string;
  contactId: string;
  at: number;
  now: number;
};

/** A conversation first seen, owned by the bot (kept if there already), for prepare() or compile(). */
export const insertConversation = (db: Kysely<Database>) =>
  db
    .insertInto('conversations')
    .values({
      id: p('id'),
      channelId: p('channelId'),
      igsid: p('igsid'),
      contactId: p('contactId'),
      status: 'open',
      threadOwner: 'bot',
      lastInboundAt: null,
      lastMessageAt: p('at'),
      readUpTo: null,
      readAt: null,
      createdAt: p('at'),
      updatedAt: p('now'),
    })
    .onConflict((oc) => oc.column('id').doNothing());

export type Conversation = Selectable<ConversationTable>;

/** A conversation with what the API shows of its contact. */
export type ConversationWithContact = Conversation &
  Pick<Selectable<ContactTable>, 'username' | 'name' | 'profilePic'>;

export type ConversationStatus = 'open' | 'pending' | 'resolved';

/** What the engine needs of a conversation to answer in it. */
export interface AutomationView {
  threadOwner: string;
  intent: string | null;
  contactId: string;
  username: string | null;
  name: string | null;
  profileCheckedAt: number | null;
}

/** The statements of every engine job, compiled once (store/prepared.ts). */
const q = {
  automationView: compile<{ id: string }, AutomationView>(
    builder
      .selectFrom('conversations')
      .innerJoin('contacts', 'contacts.id', 'conversations.contactId')
      .select([
        'conversations.threadOwner',
        'conversations.intent',
        'contacts.id as contactId',
        'contacts.username',
        'contacts.name',
        'contacts.profileCheckedAt',
      ])
      .where('conversations.id', '=', p<string>('id')),
  ),
  setIntent: compile<{ id: string; intent: string }>(
    builder
      .updateTable('conversations')
      .set({ intent: p<string>('intent') })
      .where('id', '=', p<string>('id')),
  ),
};

const withContact = (db: Kysely<Database>) =>
  db
    .selectFrom('conversations as c')
    .leftJoin('contacts as ct', 'ct.id', 'c.contactId')
    .selectAll('c')
    .select(['ct.username', 'ct.name', 'ct.profilePic']);

/** Newest activity first. */
export async function listConversations(
  db: Kysely<Database>,
  filter: {
    status?: ConversationStatus;
    channelId?: string;
    /** Only these channels' (what an API key limited to them sees). */
    channelIds?: readonly string[];
    limit: number;
    after?: PageKey;
  },
): Promise<Page<ConversationWithContact>> {
  let query = withContact(db)
    .orderBy('c.lastMessageAt', 'desc')
    .orderBy('c.id', 'desc')
    .limit(filter.limit + 1);
  if (filter.status) query = query.where('c.status', '=', filter.status);
  if (filter.channelId) query = query.where('c.channelId', '=', filter.channelId);
  // ('' is no channel's id: it keeps the list from being empty, which SQL does not allow.)
  if (filter.channelIds) query = query.where('c.channelId', 'in', [...filter.channelIds, '']);
  const key = filter.after;
  if (key) query = query.where((eb) => after(eb, key, '<', 'c.lastMessageAt', 'c.id'));
  return pageOf(await query.execute(), filter.limit);
}

export const findConversation = (db: Kysely<Database>, id: string) =>
  withContact(db).where('c.id', '=', id).executeTakeFirst();

export async function conversationExists(db: Kysely<Database>, id: string): Promise<boolean> {
  return !!(await db.selectFrom('conversations').select('id').where('id', '=', id).executeTakeFirst());
}

/** The channel and customer of a conversation. */
export const conversationAddress = (db: Kysely<Database>, id: string) =>
  db.selectFrom('conversations').select(['channelId', 'igsid']).where('id', '=', id).executeTakeFirst();

export const automationView = (db: Kysely<Database>, id: string) => q.automationView.first(db, { id });

/** Sets the status or replaces the tags (given once each); false when there is no such conversation. */
export async function updateConversation(
  db: Kysely<Database>,
  id: string,
  change: { status?: ConversationStatus; tags?: string[] },
  now: number,
): Promise<boolean> {
  const { status, tags } = change;
  const done = await db
    .updateTable('conversations')
    .set({
      updatedAt: now,
      ...(status && { status }),
      ...(tags && { tags: JSON.stringify([...new Set(tags)]) }),
    })
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(done.numUpdatedRows) > 0;
}

/**
 * Adds tags to the conversation's and returns them all. The write applies only over the tags it
 * read, else it reads them again: a change made meanwhile (a PATCH) is never lost.
 */
export async function addTags(db: Kysely<Database>, id: string, tags: string[], now: number) {
  for (;;) {
    const read = await db.selectFrom('conversations').select('tags').where('id', '=', id).executeTakeFirst();
    const all = [...new Set([...(JSON.parse(read?.tags ?? '[]') as string[]), ...tags])];
    if (!read) return all;
    const done = await db
      .updateTable('conversations')
      .set({ tags: JSON.stringify(all), updatedAt: now })
      .where('id', '=', id)
      .where('tags', '=', read.tags)
      .executeTakeFirst();
    if (Number(done.numUpdatedRows) > 0) return all;
  }
}

export async function setIntent(db: Kysely<Database>, id: string, intent: string): Promise<void> {
  await q.setIntent.run(db, { id, intent });
}

/** Makes `owner` the conversation's owner; false when it was already (or there is no such conversation). */
export async function setThreadOwner(
  db: Kysely<Database>,
  id: string,
  owner: string,
  now: number,
): Promise<boolean> {
  const done = await db
    .updateTable('conversations')
    .set({ threadOwner: owner, updatedAt: now })
    .where('id', '=', id)
    .where('threadOwner', '!=', owner)
    .executeTakeFirst();
  return Number(done.numUpdatedRows) > 0;
}
