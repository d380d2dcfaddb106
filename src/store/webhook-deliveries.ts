import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { after, type PageKey } from './pages.ts';
import type { Database, DeliveryStatus } from './schema.ts';

// Outbound webhook deliveries and their attempts (src/deliveries/): what was sent where, when, and
// what the receiver answered. A delivery is made once per cause (its dedup key) in the transaction
// that also queues its job.

export interface NewDelivery {
  endpointId: string | null;
  rule: string | null;
  url: string | null;
  eventId: number | null;
  event: string;
  channelId: string;
  conversationId: string | null;
  webhookId: string;
  body: string | null;
  dedupKey: string;
  retryUntil: number;
}

export interface Delivery extends NewDelivery {
  id: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface Attempt {
  attempt: number;
  at: number;
  status: number | null;
  error: string | null;
  response: string | null;
  durationMs: number;
}

type Row = Database['webhookDeliveries'];

const n = (v: number | null) => (v === null ? null : Number(v));

const deliveryOf = (r: Row): Delivery => ({
  ...r,
  eventId: n(r.eventId),
  retryUntil: Number(r.retryUntil),
  nextAttemptAt: n(r.nextAttemptAt),
  createdAt: Number(r.createdAt),
  updatedAt: Number(r.updatedAt),
});

export const newDeliveryId = () => `dlv_${randomBytes(12).toString('base64url')}`;

/** Adds deliveries (those whose dedup key is known are skipped); answers the new ones' ids. */
export async function insertDeliveries(
  trx: Kysely<Database>,
  rows: NewDelivery[],
  now: number,
): Promise<string[]> {
  const ids: string[] = [];
  for (const d of rows) {
    const made = await trx
      .insertInto('webhookDeliveries')
      .values({
        ...d,
        id: newDeliveryId(),
        status: 'pending',
        attempts: 0,
        nextAttemptAt: now,
        lastStatus: null,
        lastError: null,
        createdAt: now,
        updatedAt: now,
      })
      .onConflict((oc) => oc.column('dedupKey').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (made) ids.push(made.id);
  }
  return ids;
}

export async function getDelivery(db: Kysely<Database>, id: string): Promise<Delivery | null> {
  const row = await db.selectFrom('webhookDeliveries').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? deliveryOf(row) : null;
}

/**
 * The attempts of each delivery, oldest first: those its row counts. An attempt is recorded with
 * its row's count in one transaction, but this read comes after the rows' read: on PostgreSQL an
 * attempt committed in between would show beside a row that does not have it yet. A delivery whose
 * row counted attempts and none is found was deleted in between (pruning and erasure delete a
 * delivery's attempts with it, in one transaction): it is left out of the answer.
 */
export async function attemptsOf(
  db: Kysely<Database>,
  deliveries: readonly Pick<Delivery, 'id' | 'attempts'>[],
): Promise<Map<string, Attempt[]>> {
  const byDelivery = new Map<string, Attempt[]>(deliveries.map((d) => [d.id, []]));
  if (deliveries.length === 0) return byDelivery;
  const counted = new Map(deliveries.map((d) => [d.id, d.attempts]));
  const rows = await db
    .selectFrom('webhookAttempts')
    .select(['deliveryId', 'attempt', 'at', 'status', 'error', 'response', 'durationMs'])
    .where('deliveryId', 'in', [...counted.keys()])
    .orderBy('attempt')
    .execute();
  for (const { deliveryId, ...r } of rows)
    if (r.attempt <= (counted.get(deliveryId) ?? 0))
      byDelivery.get(deliveryId)?.push({ ...r, at: Number(r.at) });
  for (const d of deliveries)
    if (d.attempts > 0 && byDelivery.get(d.id)?.length === 0) byDelivery.delete(d.id);
  return byDelivery;
}

export interface DeliveryFilter {
  endpointId?: string;
  rule?: string;
  status?: DeliveryStatus;
  /** Only these channels' (a key's channels); null for all. */
  channels: readonly string[] | null;
  /** Newest first: those before this page key (createdAt, id). */
  before?: PageKey;
  limit: number;
}

/** Deliveries, newest first. */
export async function listDeliveries(db: Kysely<Database>, f: DeliveryFilter): Promise<Delivery[]> {
  let q = db.selectFrom('webhookDeliveries').selectAll();
  if (f.endpointId !== undefined) q = q.where('endpointId', '=', f.endpointId);
  if (f.rule !== undefined) q = q.where('rule', '=', f.rule);
  if (f.status !== undefined) q = q.where('status', '=', f.status);
  if (f.channels !== null) q = q.where('channelId', 'in', f.channels.length ? [...f.channels] : ['']);
  const before = f.before;
  if (before) q = q.where((eb) => after(eb, before, '<', 'createdAt', 'id'));
  const rows = await q.orderBy('createdAt', 'desc').orderBy('id', 'desc').limit(f.limit).execute();
  return rows.map(deliveryOf);
}

/** What one attempt came to, recorded with it. `status` pending with `nextAttemptAt` when tried again. */
export async function recordAttempt(
  db: Kysely<Database>,
  id: string,
  attempt: Attempt,
  outcome: { status: DeliveryStatus; nextAttemptAt: number | null },
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('webhookAttempts')
      .values({ deliveryId: id, ...attempt })
      .onConflict((oc) => oc.columns(['deliveryId', 'attempt']).doNothing())
      .execute();
    await trx
      .updateTable('webhookDeliveries')
      .set({
        status: outcome.status,
        attempts: attempt.attempt,
        nextAttemptAt: outcome.nextAttemptAt,
        lastStatus: attempt.status,
        lastError: attempt.error,
        updatedAt: attempt.at,
      })
      .where('id', '=', id)
      .execute();
  });
}

/** Ends a delivery that will not be tried (its endpoint went away or was disabled). */
export async function cancelDelivery(db: Kysely<Database>, id: string, reason: string, now: number) {
  await db
    .updateTable('webhookDeliveries')
    .set({ status: 'cancelled', lastError: reason, nextAttemptAt: null, updatedAt: now })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}

/** A settled delivery made pending again, for one more attempt now (a retry by hand); false if gone. */
export async function reopenDelivery(db: Kysely<Database>, id: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('webhookDeliveries')
    .set({ status: 'pending', retryUntil: now, nextAttemptAt: now, updatedAt: now })
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/**
 * Deletes deliveries settled before `before`, with their attempts; answers how many. An approval's
 * callback (neither an endpoint's nor a rule's) stays with its approval, which shows its outcome.
 */
export async function pruneDeliveries(db: Kysely<Database>, before: number): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const old = trx
      .selectFrom('webhookDeliveries')
      .select('id')
      .where('status', '!=', 'pending')
      .where('updatedAt', '<', before)
      .where((eb) => eb.or([eb('endpointId', 'is not', null), eb('rule', 'is not', null)]));
    await trx.deleteFrom('webhookAttempts').where('deliveryId', 'in', old).execute();
    const r = await trx.deleteFrom('webhookDeliveries').where('id', 'in', old).executeTakeFirst();
    return Number(r.numDeletedRows);
  });
}
