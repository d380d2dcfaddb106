import type { Kysely, Selectable } from 'kysely';
import type { RawEvent, RawSource } from '../meta/events.ts';
import { builder } from './builder.ts';
import { compile, param as p } from './prepared.ts';
import type { Database, WebhookEventTable } from './schema.ts';

// The event log: every webhook event as Meta sent it, stored by the ingest worker. What the engine
// reads of an event.

export type StoredEvent = Pick<
  Selectable<WebhookEventTable>,
  'id' | 'dedupKey' | 'channelId' | 'object' | 'source' | 'entryId' | 'entryTime' | 'payload' | 'backfilled'
>;

const byId = compile<{ id: number }, StoredEvent>(
  builder
    .selectFrom('webhookEvents')
    .select([
      'id',
      'dedupKey',
      'channelId',
      'object',
      'source',
      'entryId',
      'entryTime',
      'payload',
      'backfilled',
    ])
    .where('id', '=', p<number>('id')),
);

export const storedEvent = (db: Kysely<Database>, id: number) => byId.first(db, { id });

/** A stored event as Meta sent it, to normalise (meta/normalise.ts). */
export const rawEventOf = (
  row: Pick<StoredEvent, 'object' | 'entryId' | 'entryTime' | 'source' | 'payload'>,
): RawEvent => ({
  object: row.object,
  entryId: row.entryId,
  entryTime: row.entryTime === null ? null : Number(row.entryTime),
  source: row.source as RawSource,
  payload: JSON.parse(row.payload),
});
