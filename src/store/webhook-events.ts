import type { Kysely, Selectable } from 'kysely';
import { builder } from './builder.ts';
import { compile, param as p } from './prepared.ts';
import type { Database, WebhookEventTable } from './schema.ts';

// The event log: every webhook event as Meta sent it, stored by the ingest worker. What the engine
// reads of an event.

export type StoredEvent = Pick<
  Selectable<WebhookEventTable>,
  'id' | 'dedupKey' | 'channelId' | 'object' | 'source' | 'entryId' | 'entryTime' | 'payload'
>;

const byId = compile<{ id: number }, StoredEvent>(
  builder
    .selectFrom('webhookEvents')
    .select(['id', 'dedupKey', 'channelId', 'object', 'source', 'entryId', 'entryTime', 'payload'])
    .where('id', '=', p<number>('id')),
);

export const storedEvent = (db: Kysely<Database>, id: number) => byId.first(db, { id });
