import { randomBytes } from 'node:crypto';
import { type Kysely, type Selectable, sql } from 'kysely';
import {
  addedSince,
  comments,
  type Found,
  findSliced,
  jobs,
  loggedEvents,
  rawEvents,
  type Sliced,
  sends,
  type Whose,
  whose,
} from './contact-rows.ts';
import { kindOf } from './dialect.ts';
import { blankEvents } from './erased-events.ts';
import { keptFilesOf, removeFiles } from './kept-media.ts';
import type { ContactErasureTable, Database } from './schema.ts';

// Erasing a contact (DELETE /v1/contacts/:id): every row that holds their data goes, in one
// transaction: their messages (the search index follows, by its triggers), notes, story mentions,
// comments, the event log's entries about their conversations, the webhook events Meta sent about
// them, outbound webhook deliveries about them, approvals asked of them, their conversations and
// their profile. Sends to them keep their row, for the record and
// the rate limits, without content or address; a queued one fails (reason `erased`). Jobs of their
// conversations keep their ids only. What remains is a record that the erasure happened: who asked,
// when, and how many rows of each kind went.
//
// Work in flight on the contact could write some of it back after the erasure, so it is refused
// (`busy`) while any is: a webhook event of theirs not applied yet (the projector may have read it
// already), a job of their conversations running (the engine answering them), or a send to them
// whose outcome is not recorded yet (sending, or unconfirmed: waiting for its echo). Each settles
// within seconds. A job that starts later finds nothing: an engine job's event is gone, and a send
// job's row has failed. A later message from the person makes a new contact (the same id).

export interface ErasureCounts {
  conversations: number;
  messages: number;
  notes: number;
  storyMentions: number;
  comments: number;
  /** Outbox rows whose content and address were erased. */
  sends: number;
  /** Of those, queued ones that will not go (failed, reason `erased`). */
  sendsCancelled: number;
  events: number;
  webhookEvents: number;
  /** Finished jobs of their conversations whose results were cleared. */
  jobs: number;
  /** Outbound webhook deliveries about their conversations, with their attempts (receivers' answers). */
  webhookDeliveries: number;
  /** Copies of their media (media/keeper.ts), files included. */
  media: number;
  /** Approvals asked of them (src/approvals/), with their fields. */
  approvals: number;
}

export interface ContactErasure extends Omit<Selectable<ContactErasureTable>, 'counts'> {
  counts: ErasureCounts;
}

/** Who asked for an erasure: the API key (null: IGDM_API_KEY) and its agent. */
export type ErasedBy = Pick<ContactErasure, 'keyId' | 'agent'>;

export type EraseResult =
  | { status: 'erased'; erasure: ContactErasure; conversationIds: string[] }
  | { status: 'busy'; reason: string }
  /** No such contact (erased meanwhile, or never there). */
  | { status: 'gone' };

const ERASED = JSON.stringify({ reason: 'erased', message: "The contact's data was erased" });
/** Ids per `in (...)` list: well under SQLite's limit on parameters. */
const CHUNK = 500;

export async function eraseContact(
  db: Kysely<Database>,
  contactId: string,
  by: ErasedBy,
  now: number,
): Promise<EraseResult> {
  const contact = await db
    .selectFrom('contacts')
    .select(['id', 'channelId', 'igsid'])
    .where('id', '=', contactId)
    .executeTakeFirst();
  if (!contact) return { status: 'gone' };
  const w = await whose(db, contact);
  // The large unindexed tables are read before the transaction, a slice at a time
  // (contact-rows.ts); inside it, only what was added since. Their ids only grow: raw events', log
  // entries' and jobs' are never used again, and no outbox row is ever deleted. Comments are (here),
  // so a new one could take a deleted one's rowid: that smaller table is read inside.
  const found = {
    rawEvents: await findSliced(db, rawEvents, w),
    events: await findSliced(db, loggedEvents, w),
    sends: await findSliced(db, sends, w),
    jobs: await findSliced(db, jobs, w),
  };
  let files: string[] = [];
  const result = await db.transaction().execute(async (trx) => {
    const still = await trx
      .selectFrom('contacts')
      .select('id')
      .where('id', '=', contactId)
      .executeTakeFirst();
    if (!still) return { status: 'gone' as const };
    const all = async <R>(table: Sliced<R>, f: Found<R>) => [
      ...f.rows,
      ...(await addedSince(trx, table, w, f.upTo)),
    ];
    const raw = (await all(rawEvents, found.rawEvents)).map((r) => r.id);
    const outbox = (await all(sends, found.sends)).map((r) => r.id);
    const busy = await busyWith(trx, w, raw, outbox);
    if (busy) return { status: 'busy' as const, reason: busy };
    files = await keptFilesOf(trx, w.conversationIds);
    // SQLite overwrites what it deletes (rather than leaving it in free space) for this transaction.
    await sql`pragma secure_delete = on`.execute(trx);
    try {
      const counts = await erase(trx, w, {
        raw,
        outbox,
        events: (await all(loggedEvents, found.events)).map((r) => r.id),
        comments: (await addedSince(trx, comments, w, 0)).map((r) => r.id),
        jobs: (await all(jobs, found.jobs)).map((r) => r.id),
      });
      const erasure = await recordErasure(trx, contactId, w.channelId, by, counts, now);
      return { status: 'erased' as const, erasure, conversationIds: w.conversationIds };
    } finally {
      // (On a failure, the transaction's own error is the one to report.)
      await sql`pragma secure_delete = off`.execute(trx).catch(() => {});
    }
  });
  // The copies' files, once their rows are gone for good.
  if (result.status === 'erased') await removeFiles(files);
  return result;
}

/** Why the contact cannot be erased right now, or null. */
export async function busyWith(
  trx: Kysely<Database>,
  w: Whose,
  raw: number[],
  outbox: string[],
): Promise<string | null> {
  for (const ids of chunks(raw)) {
    const unapplied = await trx
      .selectFrom('webhookEvents')
      .select('id')
      .where('id', 'in', ids)
      .where('appliedAt', 'is', null)
      .executeTakeFirst();
    if (unapplied) return 'a webhook event of theirs is being applied';
  }
  for (const ids of chunks(outbox)) {
    const inFlight = await trx
      .selectFrom('outbox')
      .select('status')
      .where('id', 'in', ids)
      .where('status', 'in', ['sending', 'unconfirmed'])
      .executeTakeFirst();
    if (inFlight) return `a send to them is ${inFlight.status}`;
  }
  const running = await trx
    .selectFrom('jobs')
    .select('id')
    .where('key', 'in', w.conversationIds)
    .where('status', '=', 'active')
    .executeTakeFirst();
  if (running) return 'a job of their conversation is running';
  return null;
}

export async function erase(
  trx: Kysely<Database>,
  w: Whose,
  ids: { raw: number[]; outbox: string[]; events: number[]; comments: string[]; jobs: number[] },
): Promise<ErasureCounts> {
  const conversations = w.conversationIds;
  const counts: ErasureCounts = {
    conversations: 0,
    messages: 0,
    notes: 0,
    storyMentions: 0,
    comments: 0,
    sends: 0,
    sendsCancelled: 0,
    events: 0,
    webhookEvents: 0,
    jobs: 0,
    webhookDeliveries: 0,
    media: 0,
    approvals: 0,
  };
  const n = (r: { numUpdatedRows: bigint } | { numDeletedRows: bigint }) =>
    Number('numUpdatedRows' in r ? r.numUpdatedRows : r.numDeletedRows);

  for (const chunk of chunks(ids.outbox)) {
    counts.sendsCancelled += n(
      await trx
        .updateTable('outbox')
        .set({ status: 'failed', error: ERASED })
        .where('id', 'in', chunk)
        .where('status', '=', 'queued')
        .executeTakeFirst(),
    );
    // The row stays (what was sent when counts in the rate limits); what it said and to whom goes.
    counts.sends += n(
      await trx
        .updateTable('outbox')
        .set({ body: '{}', recipient: '{}', mid: null, causedBy: null })
        .where('id', 'in', chunk)
        .executeTakeFirst(),
    );
  }
  counts.messages = n(
    await trx.deleteFrom('messages').where('conversationId', 'in', conversations).executeTakeFirst(),
  );
  counts.media = n(
    await trx.deleteFrom('keptMedia').where('conversationId', 'in', conversations).executeTakeFirst(),
  );
  counts.approvals = n(
    await trx.deleteFrom('approvals').where('conversationId', 'in', conversations).executeTakeFirst(),
  );
  counts.notes = n(
    await trx.deleteFrom('conversationNotes').where('conversationId', 'in', conversations).executeTakeFirst(),
  );
  counts.storyMentions = n(
    await trx.deleteFrom('storyMentions').where('conversationId', 'in', conversations).executeTakeFirst(),
  );
  for (const chunk of chunks(ids.comments))
    counts.comments += n(await trx.deleteFrom('comments').where('id', 'in', chunk).executeTakeFirst());
  for (const chunk of chunks(ids.events))
    counts.events += n(
      kindOf(trx) === 'postgres'
        ? await blankEvents(trx, chunk)
        : await trx.deleteFrom('events').where('id', 'in', chunk).executeTakeFirst(),
    );
  for (const chunk of chunks(ids.raw))
    counts.webhookEvents += n(
      await trx.deleteFrom('webhookEvents').where('id', 'in', chunk).executeTakeFirst(),
    );
  // What jobs did for them (an intent, a story's id, a failure's message): their ids stay.
  for (const chunk of chunks(ids.jobs))
    counts.jobs += n(
      await trx
        .updateTable('jobs')
        .set({ result: null, error: null })
        .where('id', 'in', chunk)
        .where('status', 'in', ['done', 'dead'])
        .executeTakeFirst(),
    );
  const deliveries = trx
    .selectFrom('webhookDeliveries')
    .select('id')
    .where('conversationId', 'in', conversations);
  await trx.deleteFrom('webhookAttempts').where('deliveryId', 'in', deliveries).execute();
  counts.webhookDeliveries = n(
    await trx.deleteFrom('webhookDeliveries').where('conversationId', 'in', conversations).executeTakeFirst(),
  );
  counts.conversations = n(
    await trx.deleteFrom('conversations').where('id', 'in', conversations).executeTakeFirst(),
  );
  await trx.deleteFrom('contacts').where('id', '=', w.contactId).execute();
  return counts;
}

function* chunks<T>(ids: T[]): Generator<T[]> {
  for (let i = 0; i < ids.length; i += CHUNK) yield ids.slice(i, i + CHUNK);
}

/** The record an erasure keeps, in its transaction: who, when, and how many rows of each kind went. */
export async function recordErasure(
  trx: Kysely<Database>,
  contactId: string,
  channelId: string,
  by: ErasedBy,
  counts: ContactErasure['counts'],
  now: number,
): Promise<ContactErasure> {
  const erasure: ContactErasure = {
    id: `era_${randomBytes(12).toString('base64url')}`,
    contactId,
    channelId,
    keyId: by.keyId,
    agent: by.agent,
    counts,
    erasedAt: now,
  };
  await trx
    .insertInto('contactErasures')
    .values({ ...erasure, counts: JSON.stringify(counts) })
    .execute();
  return erasure;
}

/** The latest erasure of the contact, if it was erased. */
export async function lastErasure(db: Kysely<Database>, contactId: string): Promise<ContactErasure | null> {
  const row = await db
    .selectFrom('contactErasures')
    .selectAll()
    .where('contactId', '=', contactId)
    .orderBy('erasedAt', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirst();
  return row
    ? {
        ...row,
        erasedAt: Number(row.erasedAt),
        // Erasures recorded before approvals existed erased none.
        counts: { approvals: 0, ...(JSON.parse(row.counts) as Omit<ErasureCounts, 'approvals'>) },
      }
    : null;
}
