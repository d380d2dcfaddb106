import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { ConversationNoteTable, Database } from './schema.ts';

// Internal notes on a conversation: what agents tell each other about it. Never sent to Instagram.

export type Note = Selectable<ConversationNoteTable>;

/** Time first, so that notes written within one millisecond still sort in the order written. */
const noteId = (now: number) =>
  `note_${now.toString(36).padStart(9, '0')}${randomBytes(9).toString('base64url')}`;

export async function addNote(
  db: Kysely<Database>,
  conversationId: string,
  note: { text: string; author: string | null },
  now: number,
): Promise<Note> {
  const row: Note = { id: noteId(now), conversationId, text: note.text, author: note.author, createdAt: now };
  await db.insertInto('conversationNotes').values(row).execute();
  return row;
}

/** The conversation's notes, oldest first. */
export const listNotes = (db: Kysely<Database>, conversationId: string) =>
  db
    .selectFrom('conversationNotes')
    .selectAll()
    .where('conversationId', '=', conversationId)
    .orderBy('createdAt')
    .orderBy('id')
    .execute();
