import { type Kysely, type Selectable, sql } from 'kysely';
import { kindOf } from './dialect.ts';
import { after, type Page, type PageKey, pageOf } from './pages.ts';
import { param as p } from './prepared.ts';
import type { ContactTable, Database } from './schema.ts';

// Contacts: the customers, one per channel and IGSID, with their profile (username, name, picture)
// as Meta's user profile API gave it. Created by the projector (src/projection/).

export type NewContact = { id: string; channelId: string; igsid: string; now: number };

/** A contact first seen (kept if there already), for prepare() or compile(). */
export const insertContact = (db: Kysely<Database>) =>
  db
    .insertInto('contacts')
    .values({
      id: p('id'),
      channelId: p('channelId'),
      igsid: p('igsid'),
      username: null,
      name: null,
      profilePic: null,
      createdAt: p('now'),
      updatedAt: p('now'),
    })
    .onConflict((oc) => oc.column('id').doNothing());

/** Who a contact is, for a profile lookup. */
export interface ContactRef {
  id: string;
  channelId: string;
  igsid: string;
}

export interface Profile {
  username: string | null;
  name: string | null;
  profilePic: string | null;
}

export const contactName = (db: Kysely<Database>, id: string) =>
  db.selectFrom('contacts').select(['username', 'name']).where('id', '=', id).executeTakeFirst();

/** The contact, if its profile was never asked. */
export const unprofiledContact = (db: Kysely<Database>, id: string): Promise<ContactRef | undefined> =>
  db
    .selectFrom('contacts')
    .select(['id', 'channelId', 'igsid'])
    .where('id', '=', id)
    .where('profileCheckedAt', 'is', null)
    .executeTakeFirst();

/** The contacts of these conversations, with when their profile was last asked. */
export const contactsOf = (db: Kysely<Database>, conversationIds: string[]) =>
  db
    .selectFrom('conversations as c')
    .innerJoin('contacts as ct', 'ct.id', 'c.contactId')
    .select(['c.id as conversationId', 'ct.id', 'ct.channelId', 'ct.igsid', 'ct.profileCheckedAt'])
    .where('c.id', 'in', conversationIds)
    .execute();

export async function saveProfile(db: Kysely<Database>, id: string, p: Profile, now: number) {
  await db
    .updateTable('contacts')
    .set({ ...p, profileCheckedAt: now, updatedAt: now })
    .where('id', '=', id)
    .execute();
}

/** The profile was asked and is not available: asked again later. */
export async function profileUnavailable(db: Kysely<Database>, id: string, now: number) {
  await db.updateTable('contacts').set({ profileCheckedAt: now }).where('id', '=', id).execute();
}

export type Contact = Selectable<ContactTable>;

/** Newest first; `q`: a part of the username or name, in any case. */
export async function listContacts(
  db: Kysely<Database>,
  filter: {
    channelId?: string;
    /** Only these channels' (what an API key limited to them sees). */
    channelIds?: readonly string[];
    q?: string;
    limit: number;
    after?: PageKey;
  },
): Promise<Page<Contact>> {
  let query = db
    .selectFrom('contacts')
    .selectAll()
    .orderBy('createdAt', 'desc')
    .orderBy('id', 'desc')
    .limit(filter.limit + 1);
  if (filter.channelId) query = query.where('channelId', '=', filter.channelId);
  // ('' is no channel's id: it keeps the list from being empty, which SQL does not allow.)
  if (filter.channelIds) query = query.where('channelId', 'in', [...filter.channelIds, '']);
  if (filter.q) {
    // instr (PostgreSQL's strpos), not LIKE: the text is found as it is, `%` and `_` included.
    const part = filter.q.toLowerCase();
    const find = sql.raw(kindOf(db) === 'postgres' ? 'strpos' : 'instr');
    query = query.where(
      sql<boolean>`(${find}(lower(coalesce(username, '')), ${part}) > 0 or ${find}(lower(coalesce(name, '')), ${part}) > 0)`,
    );
  }
  const key = filter.after;
  if (key) query = query.where((eb) => after(eb, key, '<', 'createdAt', 'id'));
  return pageOf(await query.execute(), filter.limit);
}

export const findContact = (db: Kysely<Database>, id: string) =>
  db.selectFrom('contacts').selectAll().where('id', '=', id).executeTakeFirst();
