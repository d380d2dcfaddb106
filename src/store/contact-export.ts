import type { Kysely, Selectable } from 'kysely';
import { comments, findSliced, loggedEvents, rawEvents, sends, whose } from './contact-rows.ts';
import { type Contact, findContact } from './contacts.ts';
import { type ConversationWithContact, conversationsOfContact } from './conversations.ts';
import { kindOf } from './dialect.ts';
import type { Message } from './messages.ts';
import type { Note } from './notes.ts';
import type {
  CommentTable,
  Database,
  EventTable,
  OutboxTable,
  StoryMentionTable,
  WebhookEventTable,
} from './schema.ts';

// Everything igdm holds about a contact (GET /v1/contacts/:id/export): their profile, their
// conversations with their state, notes and every message, the sends to them, their story
// mentions and comments, the event log's entries about their conversations, and the webhook events
// Meta sent about them, as it sent them. Erasure (erasure.ts) removes the same rows.

export interface ContactData {
  contact: Contact;
  conversations: ConversationWithContact[];
  messages: Message[];
  notes: Note[];
  storyMentions: Selectable<StoryMentionTable>[];
  sends: Selectable<OutboxTable>[];
  comments: Selectable<CommentTable>[];
  events: Selectable<EventTable>[];
  webhookEvents: Selectable<WebhookEventTable>[];
}

/**
 * The contact's data read at one moment. On PostgreSQL, a read-only REPEATABLE READ transaction (one
 * snapshot for every read: a message arriving meanwhile is in both its conversation's summary and the
 * messages, or in neither). On SQLite a transaction would hold every writer back for the whole read.
 */
export async function contactExport(db: Kysely<Database>, id: string): Promise<ContactData | undefined> {
  const read = async (on: Kysely<Database>) => {
    const contact = await findContact(on, id);
    return contact && contactData(on, contact);
  };
  if (kindOf(db) !== 'postgres') return read(db);
  return db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(read);
}

async function contactData(db: Kysely<Database>, contact: Contact): Promise<ContactData> {
  const w = await whose(db, contact);
  const ids = w.conversationIds;
  return {
    contact,
    conversations: await conversationsOfContact(db, contact.id),
    messages: await db
      .selectFrom('messages')
      .selectAll()
      .where('conversationId', 'in', ids)
      .orderBy('createdAt')
      .orderBy('id')
      .execute(),
    notes: await db
      .selectFrom('conversationNotes')
      .selectAll()
      .where('conversationId', 'in', ids)
      .orderBy('createdAt')
      .orderBy('id')
      .execute(),
    storyMentions: await db
      .selectFrom('storyMentions')
      .selectAll()
      .where('conversationId', 'in', ids)
      .orderBy('createdAt')
      .orderBy('id')
      .execute(),
    sends: (await findSliced(db, sends, w)).rows,
    comments: (await findSliced(db, comments, w)).rows,
    events: (await findSliced(db, loggedEvents, w)).rows,
    webhookEvents: (await findSliced(db, rawEvents, w)).rows,
  };
}
