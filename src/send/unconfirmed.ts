import type { Kysely } from 'kysely';
import type { Attachment } from '../meta/events.ts';
import type { SendBody } from '../meta/send.ts';
import { messageIdOf } from '../store/ids.ts';
import type { Database } from '../store/schema.ts';
import { markSent } from './outcomes.ts';

// Unconfirmed rows in the store: sends whose outcome igdm cannot know (see reconcile.ts), matched to
// their echo, recorded as sent, or queued again.

/** How long before the claim an echo may date from and still be the row's (Meta's clock vs igdm's). */
export const ECHO_LOOKBACK_MS = 60_000;

export interface Unconfirmed {
  id: string;
  channelId: string;
  messageId: string | null;
  conversationId: string | null;
  recipient: string;
  body: string;
  /** The claim. */
  updatedAt: number;
  attempts: number;
  /** The failure that left it unconfirmed, as JSON (null after a crash). */
  error: string | null;
}

interface EchoRow {
  id: string;
  mid: string | null;
  text: string | null;
  attachments: string;
  createdAt: number;
}

/** An unconfirmed row was sent after all (Meta has it, under `mid`); false if it is no longer unconfirmed. */
export async function settleSent(
  db: Kysely<Database>,
  row: { id: string; channelId: string; messageId: string | null; conversationId: string | null },
  mid: string,
  sentAt: number,
  now: number,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    // Still unconfirmed (nothing else settled it meanwhile).
    const claimed = await trx
      .updateTable('outbox')
      .set({ updatedAt: now })
      .where('id', '=', row.id)
      .where('status', '=', 'unconfirmed')
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) === 0) return false;
    await markSent(trx, row, mid, now, sentAt);
    return true;
  });
}

/**
 * Settles one unconfirmed row by its echo, if the store has one (not in `taken`, which it joins):
 * true, or false if the row was settled meanwhile; null when there is no echo.
 */
export async function settleByEcho(
  db: Kysely<Database>,
  row: Unconfirmed,
  now: number,
  taken = new Set<string>(),
): Promise<boolean | null> {
  const message = (JSON.parse(row.body) as SendBody).message;
  const echo = message && (await echoOf(db, row, message, taken));
  if (!echo?.mid) return null;
  taken.add(echo.mid);
  return settleSent(db, row, echo.mid, Number(echo.createdAt), now);
}

/**
 * An unconfirmed row Meta does not have, or (`unknown`) cannot say it has: queued to go again, the
 * latter marked on its message as a possible duplicate. False if it is no longer unconfirmed.
 */
export async function requeueUnconfirmed(
  db: Kysely<Database>,
  row: { id: string; messageId: string | null },
  now: number,
  opts: { unknown: boolean },
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const r = await trx
      .updateTable('outbox')
      .set({ status: 'queued', nextAttemptAt: now, updatedAt: now })
      .where('id', '=', row.id)
      .where('status', '=', 'unconfirmed')
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) return false;
    if (opts.unknown && row.messageId)
      await trx
        .updateTable('messages')
        .set({ possibleDuplicate: 1, updatedAt: now })
        .where('id', '=', row.messageId)
        .execute();
    return true;
  });
}

/** The mids of `mids` that igdm has: a message (inbound, or an echo) or a send it recorded. */
export async function knownMids(
  db: Kysely<Database>,
  channelId: string,
  mids: string[],
): Promise<Set<string>> {
  if (mids.length === 0) return new Set();
  const recorded = await db
    .selectFrom('outbox')
    .select('mid')
    .where('channelId', '=', channelId)
    .where('mid', 'in', mids)
    .execute();
  const ids = new Map(mids.map((mid) => [messageIdOf(channelId, mid), mid]));
  const stored = await db
    .selectFrom('messages')
    .select('id')
    .where('id', 'in', [...ids.keys()])
    .execute();
  return new Set([...recorded.map((r) => r.mid!), ...stored.map((m) => ids.get(m.id)!)]);
}

/**
 * The echo that settles a row: an echo kept as a message of its own (its id is the hash of its mid,
 * and no outbox row has its mid) in the row's conversation, from no earlier than a minute before the
 * claim, with the row's content. The oldest such echo wins; one with the very attachment (its URL)
 * before one of the same type only (Meta echoes media under its own CDN URL).
 */
async function echoOf(
  db: Kysely<Database>,
  row: { channelId: string; conversationId: string | null; updatedAt: number },
  message: Record<string, unknown>,
  taken: ReadonlySet<string>,
): Promise<EchoRow | undefined> {
  let query = db
    .selectFrom('messages')
    .select(['id', 'mid', 'text', 'attachments', 'createdAt'])
    .where('direction', '=', 'outbound')
    .where('isEcho', '=', 1)
    .where('mid', 'is not', null)
    .where('createdAt', '>=', Number(row.updatedAt) - ECHO_LOOKBACK_MS)
    .orderBy('createdAt')
    .orderBy('id');
  // A private reply to a comment whose author igdm did not know: its echo opened a conversation
  // igdm could not name beforehand, so the channel's echoes are searched (rare; not indexed).
  query = row.conversationId
    ? query.where('conversationId', '=', row.conversationId)
    : query.where('channelId', '=', row.channelId);
  const echoes = (await query.execute()).filter(
    (m) => m.mid !== null && !taken.has(m.mid) && m.id === messageIdOf(row.channelId, m.mid),
  );
  if (echoes.length === 0) return undefined;
  const recorded = await db
    .selectFrom('outbox')
    .select('mid')
    .where('channelId', '=', row.channelId)
    .where(
      'mid',
      'in',
      echoes.map((m) => m.mid!),
    )
    .execute();
  const known = new Set(recorded.map((r) => r.mid));
  const free = echoes.filter((m) => !known.has(m.mid));
  return free.find((m) => sameContent(message, m, true)) ?? free.find((m) => sameContent(message, m, false));
}

/** Whether an echo shows what was sent: the same text; or an attachment of the same type (and URL, when `exact`). */
function sameContent(sent: Record<string, unknown>, echo: EchoRow, exact: boolean): boolean {
  if (typeof sent.text === 'string') return echo.text === sent.text;
  const a = sent.attachment as { type: string; payload?: Record<string, unknown> } | undefined;
  if (!a) return false;
  const shown = (JSON.parse(echo.attachments) as Attachment[])[0];
  if (!shown || !echoTypes(a.type).includes(shown.type)) return false;
  if (!exact) return true;
  const p = a.payload ?? {};
  if (typeof p.url === 'string') return shown.url === p.url || shown.payload?.url === p.url;
  if (p.attachment_id !== undefined) return shown.payload?.attachment_id === p.attachment_id;
  return true;
}

/** The attachment types an echo may show for a sent attachment type. */
function echoTypes(type: string): string[] {
  const t = type.toLowerCase();
  if (t === 'media_share') return ['share', 'ig_post'];
  return [t];
}
