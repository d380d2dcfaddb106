import type { ExpressionBuilder, Kysely } from 'kysely';
import { kindOf } from './dialect.ts';
import { endpointBefore, type LogPosition, snapshotOf, snapshotText } from './event-log.ts';
import type { Database } from './schema.ts';
import type { SecretBox } from './secret-box.ts';

// Outbound webhook endpoints: where igdm POSTs which events (src/deliveries/). The signing secret is
// sealed at rest and answered only when it is made; while one is being rotated, the previous one
// also signs, until `previousSecretUntil`.

export interface WebhookEndpoint {
  id: string;
  url: string;
  description: string | null;
  /** Event names, or ["*"] for every event. */
  events: string[];
  /** The channels whose events it gets; null for all. */
  channels: string[] | null;
  enabled: boolean;
  /** The last event of the log its deliveries were made for. */
  dispatchedUpTo: number;
  /** PostgreSQL, just made or enabled again: the snapshot of that moment (schema-events.ts). */
  dispatchSnapshot: string | null;
  createdAt: number;
  updatedAt: number;
}

/** An endpoint with its secrets opened, for signing. */
export interface SigningEndpoint extends WebhookEndpoint {
  secrets: string[];
}

type Row = Database['webhookEndpoints'];

const COLUMNS = [
  'id',
  'url',
  'description',
  'events',
  'channels',
  'enabled',
  'dispatchedUpTo',
  'dispatchSnapshot',
  'createdAt',
  'updatedAt',
] as const;

const endpointOf = (r: Pick<Row, (typeof COLUMNS)[number]>): WebhookEndpoint => ({
  id: r.id,
  url: r.url,
  description: r.description,
  events: JSON.parse(r.events) as string[],
  channels: r.channels === null ? null : (JSON.parse(r.channels) as string[]),
  enabled: Boolean(r.enabled),
  dispatchedUpTo: Number(r.dispatchedUpTo),
  dispatchSnapshot: r.dispatchSnapshot,
  createdAt: Number(r.createdAt),
  updatedAt: Number(r.updatedAt),
});

export async function insertEndpoint(
  db: Kysely<Database>,
  box: SecretBox,
  e: WebhookEndpoint,
  secret: string,
): Promise<void> {
  await db
    .insertInto('webhookEndpoints')
    .values({
      ...e,
      events: JSON.stringify(e.events),
      channels: e.channels === null ? null : JSON.stringify(e.channels),
      enabled: e.enabled ? 1 : 0,
      secret: box.seal(secret),
      previousSecret: null,
      previousSecretUntil: null,
    })
    .execute();
}

/** Every endpoint, oldest first. */
export async function listEndpoints(db: Kysely<Database>): Promise<WebhookEndpoint[]> {
  const rows = await db
    .selectFrom('webhookEndpoints')
    .select(COLUMNS)
    .orderBy('createdAt')
    .orderBy('id')
    .execute();
  return rows.map(endpointOf);
}

export async function getEndpoint(db: Kysely<Database>, id: string): Promise<WebhookEndpoint | null> {
  const row = await db.selectFrom('webhookEndpoints').select(COLUMNS).where('id', '=', id).executeTakeFirst();
  return row ? endpointOf(row) : null;
}

/** The endpoint and the secrets that sign for it now (the current one first). */
export async function signingEndpoint(
  db: Kysely<Database>,
  box: SecretBox,
  id: string,
  now: number,
): Promise<SigningEndpoint | null> {
  const row = await db
    .selectFrom('webhookEndpoints')
    .select([...COLUMNS, 'secret', 'previousSecret', 'previousSecretUntil'])
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) return null;
  const secrets = [box.open(row.secret)];
  if (row.previousSecret && Number(row.previousSecretUntil) > now) secrets.push(box.open(row.previousSecret));
  return { ...endpointOf(row), secrets };
}

export type EndpointChange = Partial<Pick<WebhookEndpoint, 'url' | 'description' | 'events' | 'channels'>> & {
  /** Enabling again starts after the log's last event: what happened while disabled is not sent. */
  enable?: { enabled: boolean; from: LogPosition };
};

export async function updateEndpoint(
  db: Kysely<Database>,
  id: string,
  change: EndpointChange,
  now: number,
): Promise<boolean> {
  if (change.enable?.enabled) {
    // Only when it was disabled: an enabled endpoint keeps its place in the log. What committed
    // before now is passed over (the snapshot), even where the place itself cannot move forward.
    await db
      .updateTable('webhookEndpoints')
      .set({ dispatchedUpTo: change.enable.from.id })
      .where('id', '=', id)
      .where('enabled', '=', 0)
      .where(placeBefore(db, change.enable.from))
      .execute();
    await db
      .updateTable('webhookEndpoints')
      .set({ dispatchSnapshot: snapshotOfPlace(change.enable.from) })
      .where('id', '=', id)
      .where('enabled', '=', 0)
      .execute();
  }
  const r = await db
    .updateTable('webhookEndpoints')
    .set({
      ...(change.url !== undefined && { url: change.url }),
      ...(change.description !== undefined && { description: change.description }),
      ...(change.events !== undefined && { events: JSON.stringify(change.events) }),
      ...(change.channels !== undefined && {
        channels: change.channels === null ? null : JSON.stringify(change.channels),
      }),
      ...(change.enable && { enabled: change.enable.enabled ? 1 : 0 }),
      updatedAt: now,
    })
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** A new secret; the current one keeps signing until `previousUntil`. */
export async function rotateSecret(
  db: Kysely<Database>,
  box: SecretBox,
  id: string,
  secret: string,
  previousUntil: number,
  now: number,
): Promise<boolean> {
  const row = await db
    .selectFrom('webhookEndpoints')
    .select('secret')
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) return false;
  await db
    .updateTable('webhookEndpoints')
    .set({
      secret: box.seal(secret),
      previousSecret: row.secret,
      previousSecretUntil: previousUntil,
      updatedAt: now,
    })
    .where('id', '=', id)
    .execute();
  return true;
}

export async function deleteEndpoint(db: Kysely<Database>, id: string): Promise<boolean> {
  const r = await db.deleteFrom('webhookEndpoints').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/**
 * Records how far into the log deliveries were made, in the dispatcher's transaction; `passed`: the
 * endpoints whose snapshot that place has passed (it is dropped).
 */
export async function markDispatched(
  db: Kysely<Database>,
  ids: string[],
  upTo: LogPosition,
  passed: string[] = [],
): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('webhookEndpoints')
    .set({ dispatchedUpTo: upTo.id })
    .where('id', 'in', ids)
    .where(placeBefore(db, upTo))
    .execute();
  if (passed.length > 0)
    await db
      .updateTable('webhookEndpoints')
      .set({ dispatchSnapshot: null })
      .where('id', 'in', passed)
      .execute();
}

/** The snapshot a place starting now keeps, as stored (null on SQLite). */
export const snapshotOfPlace = (pos: LogPosition): string | null =>
  pos.startedAt ? snapshotText(pos.startedAt) : null;

/** An endpoint's place in the log, with the snapshot it keeps while it may need it. */
export const placeOf = (at: LogPosition, e: Pick<WebhookEndpoint, 'dispatchSnapshot'>): LogPosition =>
  e.dispatchSnapshot ? { ...at, startedAt: snapshotOf(e.dispatchSnapshot) } : at;

/** An endpoint's place lies before `pos`: it only moves forward (in the log's reading order). */
const placeBefore = (db: Kysely<Database>, pos: LogPosition) =>
  kindOf(db) === 'sqlite'
    ? (eb: ExpressionBuilder<Database, 'webhookEndpoints'>) => eb('dispatchedUpTo', '<', pos.id)
    : () => endpointBefore(pos);
