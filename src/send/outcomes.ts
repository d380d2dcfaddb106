import { type Kysely, sql } from 'kysely';
import type { GraphFailure } from '../meta/graph-errors.ts';
import type { SendBody } from '../meta/send.ts';
import type { Channel } from '../store/channels.ts';
import { eventWrites, recordEvents } from '../store/events.ts';
import { GroupCommit } from '../store/group-commit.ts';
import { messageIdOf } from '../store/ids.ts';
import { builder } from '../store/index.ts';
import { lockMid } from '../store/mid-lock.ts';
import { compile, param as p, together, type Write } from '../store/prepared.ts';
import type { Database, OutboxTable } from '../store/schema.ts';
import { type HealthChange, saveHealth } from './channel-health.ts';

// What became of a send, recorded: the outbox row and its message in one write, with the channel's
// health when the send changed it. Claims and failures of sends that reach the same point share a
// commit (store/group-commit.ts); so do the records of sends that reached Meta.

/** A send is given up after this many attempts. */
export const MAX_ATTEMPTS = 8;

/** An outbox row, as its outcome is written. */
export interface SendRow {
  id: string;
  channelId: string;
  conversationId: string | null;
  messageId: string | null;
  /** The Send API body, as JSON. */
  body: string;
  attempts: number;
  /** As this process queued it, not read from the store (queued-here.ts). */
  remembered?: boolean;
}

type Failure = Pick<GraphFailure, 'reason' | 'message'> & Partial<GraphFailure>;

/** The statements of every send, compiled once (store/prepared.ts). */
const q = {
  claim: compile<{ id: string; attempts: number; now: number }>(
    builder
      .updateTable('outbox')
      .set({ status: 'sending', attempts: p<number>('attempts'), updatedAt: p<number>('now') })
      .where('id', '=', p<string>('id'))
      .where('status', '=', 'queued'),
  ),
  /**
   * A remembered row's claim: only while it is as it was queued, never attempted nor rescheduled (a
   * backoff, a throttle, a postponement move next_attempt_at). Else its job reads the store.
   */
  claimAsQueued: compile<{ id: string; now: number }>(
    builder
      .updateTable('outbox')
      .set({ status: 'sending', attempts: 1, updatedAt: p<number>('now') })
      .where('id', '=', p<string>('id'))
      .where('status', '=', 'queued')
      .where('attempts', '=', 0)
      .whereRef('nextAttemptAt', '=', 'createdAt'),
  ),
  outboxSent: compile<{ id: string; mid: string | null; sentAt: number; now: number }>(
    builder
      .updateTable('outbox')
      .set({
        status: 'sent',
        mid: p<string | null>('mid'),
        sentAt: p<number>('sentAt'),
        updatedAt: p<number>('now'),
        error: null,
      })
      .where('id', '=', p<string>('id')),
  ),
  /** The echo's own row, made before the send was recorded. */
  deleteEchoRow: compile<{ echoId: string; messageId: string }>(
    builder
      .deleteFrom('messages')
      .where('id', '=', p<string>('echoId'))
      .where('id', '!=', p<string>('messageId')),
  ),
  /** The message sent; an echo when the projection had a row of the echo (deleteEchoRow then drops it). */
  messageSent: compile<{ id: string; mid: string | null; echoId: string | null; now: number }>(
    builder
      .updateTable('messages')
      .set({
        status: sql<string>`case when seen_at is null then 'sent' else 'seen' end`,
        mid: p<string | null>('mid'),
        error: null,
        updatedAt: p<number>('now'),
        isEcho: sql<number>`case when exists (select 1 from messages e where e.id = ${p<string | null>('echoId')}
          and e.id != ${p<string>('id')}) then 1 else is_echo end`,
      })
      .where('id', '=', p<string>('id')),
  ),
};

export interface OutcomeDeps {
  db: Kysely<Database>;
  /**
   * `db` without waiting for the disk (store.relaxed), for recording a send as sent: if a power
   * loss takes that record, the row is left `sending` and its echo settles it (reconcile.ts), and
   * the next durable write (the next claim) makes it durable anyway. Default: db.
   */
  relaxed?: Kysely<Database>;
  now: () => number;
  /** How long an interrupted send waits for its echo before Meta is asked about it. */
  echoGraceMs: number;
}

export class Outcomes {
  readonly #d: OutcomeDeps;
  readonly #commit: GroupCommit;
  /** Records of sends that reached Meta (see OutcomeDeps.relaxed). */
  readonly #record: GroupCommit;

  constructor(deps: OutcomeDeps) {
    this.#d = deps;
    this.#commit = new GroupCommit(deps.db);
    this.#record = new GroupCommit(deps.relaxed ?? deps.db);
  }

  /**
   * The row is being sent (its attempt counted). Durable before the call: after a crash, a row still
   * `queued` would be sent again blindly. False if it is no longer queued.
   */
  async claim(row: SendRow): Promise<boolean> {
    const now = this.#d.now();
    const claimed = await this.#commit.statement((trx) =>
      row.remembered
        ? q.claimAsQueued.changes(trx, { id: row.id, now })
        : q.claim.changes(trx, { id: row.id, attempts: row.attempts + 1, now }),
    );
    return claimed > 0;
  }

  /** A queued row waits in the outbox until `at` (over a rate cap). */
  async postpone(row: SendRow, at: number): Promise<void> {
    await this.#commit.statement((trx) =>
      trx
        .updateTable('outbox')
        .set({ nextAttemptAt: at, updatedAt: this.#d.now() })
        .where('id', '=', row.id)
        .where('status', '=', 'queued')
        .execute(),
    );
  }

  /** Meta took the send (`mid`: its id, none for sender actions). */
  async sent(
    row: SendRow,
    channel: Pick<Channel, 'id' | 'accountId'>,
    body: SendBody,
    mid: string | null,
    health?: HealthChange,
  ): Promise<void> {
    const now = this.#d.now();
    await this.#record.run(async (trx) => {
      await markSent(trx, row, mid, now);
      if (health) await saveHealth(trx, health, now);
      if (body.sender_action === 'react' || body.sender_action === 'unreact') {
        await reacted(trx, channel, body, now);
      }
    });
  }

  /**
   * Back in the queue until `at`; the message shows the last failure meanwhile (still `queued`).
   * `attempts`: the count to keep (a try that does not count).
   */
  async requeue(
    row: SendRow,
    at: number,
    f: GraphFailure,
    { attempts, health }: { attempts?: number; health?: HealthChange } = {},
  ): Promise<void> {
    const now = this.#d.now();
    const error = JSON.stringify(errorView(f));
    await this.#commit.run(async (trx) => {
      await trx
        .updateTable('outbox')
        .set({
          status: 'queued',
          nextAttemptAt: at,
          error,
          updatedAt: now,
          ...(attempts !== undefined && { attempts }),
        })
        .where('id', '=', row.id)
        .execute();
      if (row.messageId) {
        await trx
          .updateTable('messages')
          .set({ error, updatedAt: now })
          .where('id', '=', row.messageId)
          .execute();
      }
      if (health) await saveHealth(trx, health, now);
    });
  }

  /**
   * Failed for good; `from`: only if the row is still in that status (nothing settled it meanwhile);
   * `health`: the channel's, changed by this failure.
   */
  async fail(
    row: Pick<SendRow, 'id' | 'messageId' | 'channelId' | 'conversationId'>,
    f: Failure,
    { from, health }: { from?: OutboxTable['status']; health?: HealthChange } = {},
  ): Promise<void> {
    const now = this.#d.now();
    const error = JSON.stringify(errorView(f));
    await this.#commit.run(async (trx) => {
      if (health) await saveHealth(trx, health, now);
      let update = trx
        .updateTable('outbox')
        .set({ status: 'failed', error, updatedAt: now })
        .where('id', '=', row.id);
      if (from) update = update.where('status', '=', from);
      if (Number((await update.executeTakeFirst()).numUpdatedRows) === 0) return;
      await recordEvents(trx, [sendEvent('message.failed', row, { error: errorView(f) })], now);
      if (row.messageId) {
        await trx
          .updateTable('messages')
          .set({ status: 'failed', error, updatedAt: now })
          .where('id', '=', row.messageId)
          .execute();
      }
    });
  }

  /**
   * A claimed row whose outcome igdm cannot know (its answer was lost or unreadable, or could not be
   * recorded) waits for its echo (reconcile.ts); the message shows why meanwhile. A sender action,
   * which has no echo and is harmless to repeat, is simply queued again. Returns when the row is due
   * again, and whether it waits for its echo; null if it was no longer being sent.
   */
  async interrupted(row: SendRow, f?: GraphFailure): Promise<{ due: number; unconfirmed: boolean } | null> {
    const now = this.#d.now();
    const echoed = (JSON.parse(row.body) as SendBody).message !== undefined;
    const due = echoed ? now + this.#d.echoGraceMs : now + 1000;
    const error = f ? JSON.stringify(errorView(f)) : undefined;
    const updated = await this.#d.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('outbox')
        .set({ status: echoed ? 'unconfirmed' : 'queued', nextAttemptAt: due, ...(error && { error }) })
        .where('id', '=', row.id)
        .where('status', '=', 'sending')
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) > 0 && error && row.messageId)
        await trx
          .updateTable('messages')
          .set({ error, updatedAt: now })
          .where('id', '=', row.messageId)
          .execute();
      return Number(r.numUpdatedRows) > 0;
    });
    return updated ? { due, unconfirmed: echoed } : null;
  }
}

/**
 * Records a send as sent with Meta's mid. Meta's echo may have been applied before this: it made a
 * row of its own under the mid, which igdm's message now replaces (and so it has been echoed). A
 * message the customer has already seen stays `seen`.
 */
export async function markSent(
  trx: Kysely<Database>,
  row: Pick<SendRow, 'id' | 'channelId' | 'messageId' | 'conversationId'>,
  mid: string | null,
  now: number,
  sentAt = now,
): Promise<void> {
  // Before the echo's row is looked for: an echo applied at the same time waits (mid-lock.ts).
  if (mid !== null) await lockMid(trx, row.channelId, mid);
  const sent: Write[] = [
    [q.outboxSent, { id: row.id, mid, sentAt, now }],
    ...eventWrites([sendEvent('message.sent', row, { mid })], now),
  ];
  if (!row.messageId) return together(trx, sent);
  // The echo's row, if the projection made one (the echo came first), is this message's: the message
  // is marked an echo, and that row deleted (in this order on SQLite; one snapshot on PostgreSQL).
  const echoId = mid === null ? null : messageIdOf(row.channelId, mid);
  const message: Write[] = [[q.messageSent, { id: row.messageId, mid, echoId, now }]];
  if (echoId !== null) message.push([q.deleteEchoRow, { echoId, messageId: row.messageId }]);
  // One statement on PostgreSQL (together()): the outbox row, the event and the message.
  await together(trx, [...sent, ...message]);
}

/** igdm's own reaction shows on the customer's message. */
async function reacted(
  trx: Kysely<Database>,
  channel: Pick<Channel, 'id' | 'accountId'>,
  body: SendBody,
  now: number,
) {
  const target = body.payload?.message_id;
  if (!target) return;
  const id = messageIdOf(channel.id, target);
  const m = await trx.selectFrom('messages').select('reactions').where('id', '=', id).executeTakeFirst();
  if (!m) return;
  const by = channel.accountId ?? channel.id;
  const reactions = (JSON.parse(m.reactions) as { by: string }[]).filter((r) => r.by !== by);
  if (body.sender_action === 'react')
    reactions.push({ by, reaction: body.payload?.reaction ?? 'love', emoji: null, at: now } as never);
  await trx
    .updateTable('messages')
    .set({ reactions: JSON.stringify(reactions), updatedAt: now })
    .where('id', '=', id)
    .execute();
}

/** An event of a send's outcome (the event log, store/events.ts). */
function sendEvent(
  event: 'message.sent' | 'message.failed',
  row: Pick<SendRow, 'id' | 'channelId' | 'messageId' | 'conversationId'>,
  data: Record<string, unknown>,
) {
  return {
    event,
    channelId: row.channelId,
    conversationId: row.conversationId,
    data: { messageId: row.messageId, outboxId: row.id, conversationId: row.conversationId, ...data },
  };
}

/** What the API shows of a failure: never a token, never Meta's trace beyond its id. */
function errorView(f: Failure) {
  return {
    reason: f.reason,
    message: f.message,
    ...(f.action && { action: f.action }),
    ...(f.code !== undefined && { code: f.code }),
    ...(f.subcode !== undefined && { subcode: f.subcode }),
    ...(f.fbtraceId && { fbtraceId: f.fbtraceId }),
  };
}
