import { type Kysely, type Selectable, sql } from 'kysely';
import { builder } from './builder.ts';
import { kindOf } from './dialect.ts';
import { recordEvents } from './events.ts';
import { matchingConversations } from './message-search.ts';
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
  Pick<Selectable<ContactTable>, 'username' | 'name' | 'profilePic'> & {
    /** Inbound messages after the agents' read mark. */
    unread: number;
    notesCount: number;
    /** The newest message, as JSON (LastMessage), or null. */
    lastMessage: string | null;
  };

/** A conversation's newest message, in brief. */
export interface LastMessage {
  id: string;
  direction: string;
  type: string;
  text: string | null;
  deletedAt: number | null;
  createdAt: number;
}

export type ConversationStatus = 'open' | 'pending' | 'resolved';

/** What the engine needs of a conversation to answer in it. */
export interface AutomationView {
  threadOwner: string;
  intent: string | null;
  contactId: string;
  username: string | null;
  name: string | null;
  profileCheckedAt: number | null;
  /** The customer wrote in the conversation before the time asked about. */
  wroteBefore: boolean;
}

/**
 * The conversation `conversationId` as the automation sees it, with whether the customer wrote in it
 * before `before` (also read with the engine job's event: store/engine-reads.ts).
 */
export const automationViewQuery = builder
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
  .select((eb) =>
    eb
      .exists(
        eb
          .selectFrom('messages')
          .select('messages.id')
          .whereRef('messages.conversationId', '=', 'conversations.id')
          .where('messages.direction', '=', 'inbound')
          .where('messages.createdAt', '<', p<number>('before')),
      )
      .as('wrote'),
  )
  .where('conversations.id', '=', p<string>('conversationId'));

/** The statements of every engine job, compiled once (store/prepared.ts). */
const q = {
  automationView: compile<
    { conversationId: string; before: number },
    Omit<AutomationView, 'wroteBefore'> & { wrote: unknown }
  >(automationViewQuery),
  setIntent: compile<{ id: string; intent: string }>(
    builder
      .updateTable('conversations')
      .set({ intent: p<string>('intent') })
      .where('id', '=', p<string>('id')),
  ),
};

/** Inbound messages (not deleted) agents have not read: after the conversation's read mark. */
const unreadOf = (c: string) =>
  sql<number>`(select count(*) from messages m where m.conversation_id = ${sql.ref(`${c}.id`)}
    and m.direction = 'inbound' and m.deleted_at is null and m.type != 'unknown'
    and m.created_at > coalesce(${sql.ref(`${c}.agent_read_up_to`)}, -1))`;

/** The newest message's columns as a JSON object (text); `m` is the message. */
const lastMessageJson = (db: Kysely<Database>) =>
  kindOf(db) === 'postgres'
    ? sql`json_build_object('id', m.id, 'direction', m.direction, 'type', m.type, 'text', m.text,
        'deletedAt', m.deleted_at, 'createdAt', m.created_at)::text`
    : sql`json_object('id', m.id, 'direction', m.direction, 'type', m.type, 'text', m.text,
        'deletedAt', m.deleted_at, 'createdAt', m.created_at)`;

const withContact = (db: Kysely<Database>) =>
  db
    .selectFrom('conversations as c')
    .leftJoin('contacts as ct', 'ct.id', 'c.contactId')
    .selectAll('c')
    .select(['ct.username', 'ct.name', 'ct.profilePic'])
    .select([
      unreadOf('c').as('unread'),
      sql<number>`(select count(*) from conversation_notes n where n.conversation_id = c.id)`.as(
        'notesCount',
      ),
      // The newest message, for the list's preview (one index step: messages by conversation, time).
      sql<string | null>`(select ${lastMessageJson(db)}
        from messages m where m.conversation_id = c.id order by m.created_at desc, m.id desc limit 1)`.as(
        'lastMessage',
      ),
    ]);

export interface ConversationFilter {
  status?: ConversationStatus;
  channelId?: string;
  threadOwner?: 'bot' | 'human';
  /** An agent's name, or null for conversations nobody is assigned. */
  assignee?: string | null;
  tag?: string;
  /** true: with unread inbound messages; false: all read. */
  unread?: boolean;
  /** Words that a message of the conversation contains (each a prefix: "ship" finds "shipping"). */
  q?: string;
}

/**
 * Newest activity first. The page is chosen first (ids only) and its contacts and counts are read for
 * its rows alone: selected beside the filters, the counts were computed for every row that passed
 * them before the sort (a channel's 3000 conversations, or every one a common word finds; see
 * BENCHMARKS.md, API).
 */
export async function listConversations(
  db: Kysely<Database>,
  filter: ConversationFilter & {
    /** Only these channels' (what an API key limited to them sees). */
    channelIds?: readonly string[];
    limit: number;
    after?: PageKey;
  },
): Promise<Page<ConversationWithContact>> {
  let page = db
    .selectFrom('conversations as c')
    .select('c.id')
    .orderBy('c.lastMessageAt', 'desc')
    .orderBy('c.id', 'desc')
    .limit(filter.limit + 1);
  if (filter.status) page = page.where('c.status', '=', filter.status);
  if (filter.channelId) page = page.where('c.channelId', '=', filter.channelId);
  // ('' is no channel's id: it keeps the list from being empty, which SQL does not allow.)
  if (filter.channelIds) page = page.where('c.channelId', 'in', [...filter.channelIds, '']);
  if (filter.threadOwner) page = page.where('c.threadOwner', '=', filter.threadOwner);
  if (filter.assignee !== undefined)
    page = page.where('c.assignee', filter.assignee === null ? 'is' : '=', filter.assignee);
  if (filter.tag !== undefined)
    page = page.where(
      kindOf(db) === 'postgres'
        ? sql<boolean>`exists (select 1 from json_array_elements_text(c.tags::json) t(value) where t.value = ${filter.tag})`
        : sql<boolean>`exists (select 1 from json_each(c.tags) t where t.value = ${filter.tag})`,
    );
  if (filter.unread !== undefined)
    page = page.where(
      filter.unread ? sql<boolean>`${unreadOf('c')} > 0` : sql<boolean>`${unreadOf('c')} = 0`,
    );
  if (filter.q !== undefined) {
    const matching = await matchingConversations(db, filter.q);
    // No word to look for finds nothing (rather than everything).
    if (matching === null) return { rows: [], more: false };
    page = page.where(matching);
  }
  const key = filter.after;
  if (key) page = page.where((eb) => after(eb, key, '<', 'c.lastMessageAt', 'c.id'));
  const rows = await withContact(db)
    .where('c.id', 'in', page)
    .orderBy('c.lastMessageAt', 'desc')
    .orderBy('c.id', 'desc')
    .execute();
  return pageOf(rows, filter.limit);
}

export const findConversation = (db: Kysely<Database>, id: string) =>
  withContact(db).where('c.id', '=', id).executeTakeFirst();

/** A contact's conversations, newest activity first (a contact belongs to one channel: one today). */
export const conversationsOfContact = (db: Kysely<Database>, contactId: string) =>
  withContact(db)
    .where('c.contactId', '=', contactId)
    .orderBy('c.lastMessageAt', 'desc')
    .orderBy('c.id', 'desc')
    .execute();

export async function conversationExists(db: Kysely<Database>, id: string): Promise<boolean> {
  return !!(await db.selectFrom('conversations').select('id').where('id', '=', id).executeTakeFirst());
}

/** The channel and customer of a conversation. */
export const conversationAddress = (db: Kysely<Database>, id: string) =>
  db.selectFrom('conversations').select(['channelId', 'igsid']).where('id', '=', id).executeTakeFirst();

/** What the engine's rules read of a conversation; `before`: the time of the message they answer. */
export async function automationView(
  db: Kysely<Database>,
  id: string,
  before: number,
): Promise<AutomationView | undefined> {
  const row = await q.automationView.first(db, { conversationId: id, before });
  return row && automationViewOf(row);
}

/** automationViewQuery's row as the view. */
export function automationViewOf(
  row: Omit<AutomationView, 'wroteBefore'> & { wrote: unknown },
): AutomationView {
  const { wrote, ...view } = row;
  // PostgreSQL's boolean, SQLite's 0 or 1.
  return { ...view, wroteBefore: wrote === true || wrote === 1 };
}

/**
 * Sets the status, replaces the tags or (un)assigns it (null: nobody), each when given; false when
 * there is no such conversation.
 */
export async function updateConversation(
  db: Kysely<Database>,
  id: string,
  change: { status?: ConversationStatus; tags?: string[]; assignee?: string | null },
  now: number,
): Promise<boolean> {
  const { status, tags, assignee } = change;
  const unique = tags && [...new Set(tags)];
  return db.transaction().execute(async (trx) => {
    const done = await trx
      .updateTable('conversations')
      .set({
        updatedAt: now,
        ...(status && { status }),
        ...(unique && { tags: JSON.stringify(unique) }),
        ...(assignee !== undefined && { assignee }),
      })
      .where('id', '=', id)
      .executeTakeFirst();
    if (Number(done.numUpdatedRows) === 0) return false;
    await updated(
      trx,
      id,
      {
        ...(status && { status }),
        ...(unique && { tags: unique }),
        ...(assignee !== undefined && { assignee }),
      },
      now,
    );
    return true;
  });
}

/** `conversation.updated` in the event log, with what changed (in the change's transaction). */
async function updated(trx: Kysely<Database>, id: string, changes: Record<string, unknown>, now: number) {
  const c = await trx.selectFrom('conversations').select('channelId').where('id', '=', id).executeTakeFirst();
  if (!c) return;
  await recordEvents(
    trx,
    [
      {
        event: 'conversation.updated',
        channelId: c.channelId,
        conversationId: id,
        data: { conversationId: id, ...changes },
      },
    ],
    now,
  );
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
    const written = await db.transaction().execute(async (trx) => {
      const done = await trx
        .updateTable('conversations')
        .set({ tags: JSON.stringify(all), updatedAt: now })
        .where('id', '=', id)
        .where('tags', '=', read.tags)
        .executeTakeFirst();
      if (Number(done.numUpdatedRows) === 0) return false;
      if (all.length > JSON.parse(read.tags).length) await updated(trx, id, { tags: all }, now);
      return true;
    });
    if (written) return all;
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
  return db.transaction().execute(async (trx) => {
    const done = await trx
      .updateTable('conversations')
      .set({ threadOwner: owner, updatedAt: now })
      .where('id', '=', id)
      .where('threadOwner', '!=', owner)
      .executeTakeFirst();
    if (Number(done.numUpdatedRows) === 0) return false;
    await updated(trx, id, { threadOwner: owner }, now);
    return true;
  });
}

/**
 * Agents have read the conversation: its inbound messages up to the newest are read (the mark only
 * moves forward). False when there is no such conversation.
 */
export async function markRead(db: Kysely<Database>, id: string, now: number): Promise<boolean> {
  const newest = sql<number | null>`(select max(created_at) from messages
    where conversation_id = ${id} and direction = 'inbound')`;
  const done = await db
    .updateTable('conversations')
    .set({
      // PostgreSQL's greatest() passes over nulls; SQLite's max(a, b) is null if either is.
      agentReadUpTo:
        kindOf(db) === 'postgres'
          ? sql<number>`greatest(agent_read_up_to, ${newest})`
          : sql<number>`coalesce(max(coalesce(agent_read_up_to, -1), ${newest}), agent_read_up_to)`,
      updatedAt: now,
    })
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(done.numUpdatedRows) > 0;
}
