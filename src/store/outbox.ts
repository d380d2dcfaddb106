import type { Kysely, Selectable } from 'kysely';
import { builder } from './builder.ts';
import { compile, param as p } from './prepared.ts';
import type { Database, OutboxTable } from './schema.ts';

// The outbox: what igdm sends, one row per send (engine/outbox.ts queues them, the sender sends
// them). What the API and the engine read of it.

/** Asked for every echo: compiled once (store/prepared.ts). */
const byMid = compile<{ channelId: string; mid: string }>(
  builder
    .selectFrom('outbox')
    .select('id')
    .where('channelId', '=', p<string>('channelId'))
    .where('mid', '=', p<string>('mid')),
);

const byId = compile<{ id: string }, Selectable<OutboxTable>>(
  builder.selectFrom('outbox').selectAll().where('id', '=', p<string>('id')),
);

/** A send as the outbox has it (the API shows it). */
export const findOutboxEntry = (db: Kysely<Database>, id: string) => byId.first(db, { id });

const OUTBOX_COLUMNS = [
  'id',
  'channelId',
  'messageId',
  'conversationId',
  'recipient',
  'kind',
  'body',
  'human',
  'status',
  'attempts',
  'nextAttemptAt',
  'mid',
  'error',
  'causedBy',
  'createdAt',
  'updatedAt',
  'sentAt',
] as const satisfies readonly (keyof OutboxTable)[];
// Every column of the table, so that the row read is the whole send.
const _everyColumn: Exclude<keyof OutboxTable, (typeof OUTBOX_COLUMNS)[number]> extends never ? true : never =
  true;

const sendById = compile<{ id: string }, Selectable<OutboxTable> & { lastInboundAt: number | null }>(
  builder
    .selectFrom('outbox')
    .leftJoin('conversations', 'conversations.id', 'outbox.conversationId')
    // Named, not `outbox.*`: a statement with a wildcard is not prepared (store/postgres-prepared.ts).
    .select(OUTBOX_COLUMNS.map((c) => `outbox.${c}` as const))
    .select('conversations.lastInboundAt')
    .where('outbox.id', '=', p<string>('id')),
);

/**
 * A send as its job acts on it, with when its customer last wrote (the 24-hour window,
 * send/window.ts), read in the same round trip.
 */
export async function findSend(db: Kysely<Database>, id: string) {
  const row = await sendById.first(db, { id });
  return row && { ...row, lastInboundAt: row.lastInboundAt == null ? null : Number(row.lastInboundAt) };
}

/** igdm sent the message with Meta's id `mid`. */
export async function sentByIgdm(db: Kysely<Database>, channelId: string, mid: string): Promise<boolean> {
  return !!(await byMid.first(db, { channelId, mid }));
}

/** The status of a send to the conversation that is not settled yet (sending, unconfirmed), if any. */
export async function unsettledSend(db: Kysely<Database>, conversationId: string) {
  const row = await db
    .selectFrom('outbox')
    .select('status')
    .where('conversationId', '=', conversationId)
    .where('status', 'in', ['sending', 'unconfirmed'])
    .executeTakeFirst();
  return row?.status;
}

/** A send of this text to the conversation that igdm attempted since `since`: who wrote it. */
export const attemptedSend = (db: Kysely<Database>, conversationId: string, text: string, since: number) =>
  db
    .selectFrom('outbox')
    .innerJoin('messages', 'messages.id', 'outbox.messageId')
    .select(['messages.author'])
    .where('outbox.conversationId', '=', conversationId)
    .where('outbox.attempts', '>=', 1)
    .where('messages.text', '=', text)
    .where('outbox.createdAt', '>=', since)
    .executeTakeFirst();

/** The latest send of a message (a retried message has one per try). */
export const lastSendOf = (db: Kysely<Database>, messageId: string) =>
  db
    .selectFrom('outbox')
    .selectAll()
    .where('messageId', '=', messageId)
    .orderBy('createdAt', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirst();
