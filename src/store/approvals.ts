import type { Kysely, Selectable } from 'kysely';
import { after, type Page, type PageKey, pageOf } from './pages.ts';
import type { ApprovalStatus, ApprovalTable, Database } from './schema.ts';
import type { SecretBox } from './secret-box.ts';

// Approvals (src/approvals/): made with their DM, read by the API and the engine, decided once. A
// decision is a compare-and-set on `pending`, so an answer, a cancel and the expiry sweep racing
// for one approval decide it once, whichever comes first.

export type Approval = Selectable<ApprovalTable>;

/** A field as stored: a visible value in clear, a masked one sealed, a concealed one absent. */
export type StoredField =
  | { label: string; display: 'visible'; value: string | null }
  | { label: string; display: 'masked'; sealed: string | null }
  | { label: string; display: 'concealed' };

export const fieldsOf = (a: Pick<Approval, 'fields'>) => JSON.parse(a.fields) as StoredField[];

/** Times as numbers (PostgreSQL's bigint comes back as text). */
const approvalOf = (r: Approval): Approval => ({
  ...r,
  respondedAt: r.respondedAt === null ? null : Number(r.respondedAt),
  decidedAt: r.decidedAt === null ? null : Number(r.decidedAt),
  expiresAt: Number(r.expiresAt),
  createdAt: Number(r.createdAt),
  updatedAt: Number(r.updatedAt),
  approved: r.approved === null ? null : Number(r.approved),
});

export async function insertApproval(trx: Kysely<Database>, row: Approval): Promise<void> {
  await trx.insertInto('approvals').values(row).execute();
}

export async function findApproval(db: Kysely<Database>, id: string): Promise<Approval | null> {
  const row = await db.selectFrom('approvals').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? approvalOf(row) : null;
}

export interface ApprovalFilter {
  status?: ApprovalStatus;
  channelId?: string;
  conversationId?: string;
  /** Only these channels' (a key's channels); null for all. */
  channels: readonly string[] | null;
  /** Newest first: those before this page key (createdAt, id). */
  before?: PageKey;
  limit: number;
}

/** Approvals, newest first. */
export async function listApprovals(db: Kysely<Database>, f: ApprovalFilter): Promise<Page<Approval>> {
  let q = db.selectFrom('approvals').selectAll();
  if (f.status !== undefined) q = q.where('status', '=', f.status);
  if (f.channelId !== undefined) q = q.where('channelId', '=', f.channelId);
  if (f.conversationId !== undefined) q = q.where('conversationId', '=', f.conversationId);
  if (f.channels !== null) q = q.where('channelId', 'in', f.channels.length ? [...f.channels] : ['']);
  const before = f.before;
  if (before) q = q.where((eb) => after(eb, before, '<', 'createdAt', 'id'));
  const rows = await q
    .orderBy('createdAt', 'desc')
    .orderBy('id', 'desc')
    .limit(f.limit + 1)
    .execute();
  return pageOf(rows.map(approvalOf), f.limit);
}

/** The approvals of a conversation still waiting for an answer at `now`, soonest to expire first. */
export async function pendingIn(db: Kysely<Database>, conversationId: string, now: number) {
  const rows = await db
    .selectFrom('approvals')
    .selectAll()
    .where('conversationId', '=', conversationId)
    .where('status', '=', 'pending')
    .where('expiresAt', '>', now)
    .orderBy('expiresAt')
    .orderBy('id')
    .execute();
  return rows.map(approvalOf);
}

/** Pending approvals whose time ran out by `now`, oldest deadline first. */
export async function expiredPending(db: Kysely<Database>, now: number, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('approvals')
    .select('id')
    .where('status', '=', 'pending')
    .where('expiresAt', '<=', now)
    .orderBy('expiresAt')
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}

export interface Decision {
  status: Exclude<ApprovalStatus, 'pending'>;
  respondedBy: string | null;
  respondedAt: number | null;
  decidedBy: string;
}

/** Decides a pending approval, in the caller's transaction; the decided row, or null if it was not pending. */
export async function decidePending(
  trx: Kysely<Database>,
  id: string,
  d: Decision,
  now: number,
): Promise<Approval | null> {
  const approved = d.status === 'approved' ? 1 : d.status === 'rejected' ? 0 : null;
  const r = await trx
    .updateTable('approvals')
    .set({ ...d, approved, decidedAt: now, updatedAt: now })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) return null;
  return findApproval(trx, id);
}

export async function setCallbackDelivery(trx: Kysely<Database>, id: string, deliveryId: string) {
  await trx.updateTable('approvals').set({ callbackDeliveryId: deliveryId }).where('id', '=', id).execute();
}

/** A callback's state, from its delivery. */
export interface CallbackState {
  deliveryId: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  lastError: string | null;
}

/** The callbacks' deliveries of these approvals, by approval id. */
export async function callbacksOf(
  db: Kysely<Database>,
  approvals: readonly Approval[],
): Promise<Map<string, CallbackState>> {
  const ids = approvals.flatMap((a) => (a.callbackDeliveryId ? [a.callbackDeliveryId] : []));
  const byApproval = new Map<string, CallbackState>();
  if (ids.length === 0) return byApproval;
  const rows = await db
    .selectFrom('webhookDeliveries')
    .select(['id', 'status', 'attempts', 'lastError'])
    .where('id', 'in', ids)
    .execute();
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const a of approvals) {
    const d = a.callbackDeliveryId ? byId.get(a.callbackDeliveryId) : undefined;
    if (!d) continue;
    const status = d.status === 'pending' ? 'pending' : d.status === 'succeeded' ? 'delivered' : 'failed';
    byApproval.set(a.id, {
      deliveryId: d.id,
      status,
      attempts: Number(d.attempts),
      lastError: d.lastError,
    });
  }
  return byApproval;
}

/** The secret that signs a callback delivery (opened), or null when it is no approval's callback. */
export async function callbackSecretOf(
  db: Kysely<Database>,
  box: SecretBox,
  deliveryId: string,
): Promise<string | null> {
  const row = await db
    .selectFrom('approvals')
    .select('callbackSecret')
    .where('callbackDeliveryId', '=', deliveryId)
    .executeTakeFirst();
  return row?.callbackSecret ? box.open(row.callbackSecret) : null;
}
