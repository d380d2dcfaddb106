import type { Insertable, Kysely, Selectable } from 'kysely';
import type { RawEvent, RawSource } from '../meta/events.ts';
import { builder } from './builder.ts';
import { pageOf } from './pages.ts';
import { compile, param as p } from './prepared.ts';
import type { Database, WebhookEventTable } from './schema.ts';

// The event log: every webhook event as Meta sent it, stored by the ingest worker. What the engine
// reads of an event.

/** The columns of a stored event that the projector and the engine read. */
export const STORED_EVENT_COLUMNS = [
  'id',
  'dedupKey',
  'channelId',
  'object',
  'source',
  'entryId',
  'entryTime',
  'payload',
  'receivedAt',
  'backfilled',
] as const;

export type StoredEvent = Pick<Selectable<WebhookEventTable>, (typeof STORED_EVENT_COLUMNS)[number]>;

const byId = compile<{ id: number }, StoredEvent>(
  builder.selectFrom('webhookEvents').select(STORED_EVENT_COLUMNS).where('id', '=', p<number>('id')),
);

export const storedEvent = (db: Kysely<Database>, id: number) => byId.first(db, { id });

export type NewWebhookEvent = Omit<
  Insertable<WebhookEventTable>,
  'id' | 'appliedAt' | 'applyError' | 'applyStatus'
>;

/**
 * Stores one webhook event unless one with its dedup key is stored already: its id, or null for a
 * duplicate. The same row as the ingest worker's prepared insert (SQLite's hot path, ingest/worker.ts),
 * through Kysely: for a store the worker does not write to (PostgreSQL).
 */
export async function storeWebhookEvent(
  db: Kysely<Database>,
  event: NewWebhookEvent,
): Promise<number | null> {
  const row = await db
    .insertInto('webhookEvents')
    .values(event)
    .onConflict((oc) => oc.column('dedupKey').doNothing())
    .returning('id')
    .executeTakeFirst();
  return row ? Number(row.id) : null;
}

/** A stored event as Meta sent it, to normalise (meta/normalise.ts). */
export const rawEventOf = (
  row: Pick<StoredEvent, 'object' | 'entryId' | 'entryTime' | 'source' | 'payload'> & {
    receivedAt?: number | null;
  },
): RawEvent => ({
  object: row.object,
  entryId: row.entryId,
  entryTime: row.entryTime === null ? null : Number(row.entryTime),
  source: row.source as RawSource,
  payload: JSON.parse(row.payload),
  receivedAt: row.receivedAt == null ? null : Number(row.receivedAt),
});

export type ApplyStatus = 'applied' | 'unapplied' | 'ignored';

export interface EventListFilter {
  status?: ApplyStatus;
  channelIds?: readonly string[];
  kind?: string;
  limit: number;
  /** Events stored before this one (the id of the previous page's last row). */
  beforeId?: number;
}

/** Stored events, newest first, with what became of them (GET /v1/webhook-events). */
export async function listWebhookEvents(db: Kysely<Database>, f: EventListFilter) {
  let q = db
    .selectFrom('webhookEvents')
    .select([
      'id',
      'channelId',
      'kind',
      'object',
      'source',
      'applyStatus',
      'applyError',
      'receivedAt',
      'payload',
    ])
    .orderBy('id', 'desc')
    .limit(f.limit + 1);
  // Events waiting to be applied have no status yet: they are in none of the lists.
  q = f.status ? q.where('applyStatus', '=', f.status) : q.where('applyStatus', 'is not', null);
  if (f.channelIds) q = q.where('channelId', 'in', f.channelIds.length ? f.channelIds : ['']);
  if (f.kind) q = q.where('kind', '=', f.kind);
  if (f.beforeId !== undefined) q = q.where('id', '<', f.beforeId);
  return pageOf(await q.execute(), f.limit);
}

/** Forgets the outcome of the events that could not be applied, so the projector tries them again. */
export async function retryUnapplied(db: Kysely<Database>): Promise<number> {
  const r = await db
    .updateTable('webhookEvents')
    .set({ appliedAt: null, applyStatus: null, applyError: null })
    .where('applyStatus', '=', 'unapplied')
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}
