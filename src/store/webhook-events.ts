import type { Kysely } from 'kysely';
import { builder } from './index.ts';
import { compile, param as p } from './prepared.ts';
import type { Database } from './schema.ts';

// The event log: every webhook event as Meta sent it, stored by the ingest worker. What the engine
// reads of an event.

export interface StoredEvent {
  id: number;
  dedupKey: string;
  channelId: string | null;
  object: string;
  source: string;
  entryId: string | null;
  entryTime: number | null;
  payload: string;
}

const byId = compile<{ id: number }, StoredEvent>(
  builder
    .selectFrom('webhookEvents')
    .select(['id', 'dedupKey', 'channelId', 'object', 'source', 'entryId', 'entryTime', 'payload'])
    .where('id', '=', p<number>('id')),
);

export const storedEvent = (db: Kysely<Database>, id: number) => byId.first(db, { id });
