import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

// PostgreSQL's erasure blanks the event log's rows about the contact rather than deleting them:
// readers there map a client's event id to its (tx, id) place by the id's row (event-log.ts), so the
// row keeps its id and tx, and loses everything else that could say who it was about. Readers skip
// blanked rows. SQLite deletes them (its readers follow ids alone).

/** The event name of a blanked row; its data is `TOMBSTONE`. */
export const ERASED_EVENT = 'erased';
export const TOMBSTONE = JSON.stringify({ erased: true });

export const blankEvents = (trx: Kysely<Database>, ids: number[]) =>
  trx
    .updateTable('events')
    .set({ event: ERASED_EVENT, data: TOMBSTONE, conversationId: null, dedupKey: null })
    .where('id', 'in', ids)
    .executeTakeFirst();
