import type { Kysely } from 'kysely';
import { GraphClient, GraphError } from '../graph/client.ts';
import type { RateLimiter } from '../graph/rate-limit.ts';
import type { Logger } from '../log.ts';
import type { GraphFailure } from '../meta/graph-errors.ts';
import { messagePolicy } from '../meta/policy.ts';
import type { SendBody } from '../meta/send.ts';
import type { Channel } from '../store/channels.ts';
import type { Database, OutboxTable } from '../store/schema.ts';
import { messageIdOf } from './apply.ts';

// The sender works through the outbox: each due row is checked against the policy again (time has
// passed since it was queued), waits for the rate limit, goes to the Graph API once, and its outcome
// is recorded before the next row. Failures follow their class: retry with backoff and jitter,
// throttle (wait as long as Meta says), reauthorise (the channel stops until it has a new token),
// pause (368), or give up with the reason on the message.

export type ChannelHealth = 'ok' | 'throttled' | 'needs_token' | 'paused';

const MAX_ATTEMPTS = 8;
const BREAKER_THRESHOLD = 5;
const BREAKER_OPEN_MS = 30_000;
const PAUSE_MS = 60 * 60 * 1000;
/** A rate-limit wait up to this (the per-second windows) is slept through; a longer one is rescheduled. */
const MAX_INLINE_WAIT_MS = 1000;

/** 1 s, 2 s, 4 s ... up to 5 min, with ±25 % jitter so that retries do not arrive together. */
export const backoffMs = (attempt: number, random = Math.random) =>
  Math.round(Math.min(300_000, 1000 * 2 ** Math.max(0, attempt - 1)) * (0.75 + random() * 0.5));

export interface SenderDeps {
  db: Kysely<Database>;
  channels: () => readonly Channel[];
  limiter: RateLimiter;
  log: Logger;
  now?: () => number;
  /** Called when a channel's health changes, to persist and show it. */
  onHealth?: (channelId: string, health: ChannelHealth) => void;
  graphTimeoutMs?: number;
  /** How long an interrupted send waits for its echo before it is sent again. */
  echoGraceMs?: number;
}

type Row = Pick<
  OutboxTable,
  'id' | 'channelId' | 'messageId' | 'conversationId' | 'kind' | 'body' | 'human' | 'attempts'
>;

export class Sender {
  readonly #d: SenderDeps;
  readonly #now: () => number;
  /** Per channel: not before this time (throttle, pause, open breaker). */
  readonly #holdUntil = new Map<string, number>();
  readonly #failuresInRow = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #stopped = false;

  constructor(deps: SenderDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** Rows left 'sending' by a crash are sent again (the echo check that avoids a duplicate comes with the engine). */
  async start(): Promise<void> {
    await this.#d.db
      .updateTable('outbox')
      .set({ status: 'queued' })
      .where('status', '=', 'sending')
      .execute();
    this.wake();
  }

  /** Echoes were applied: interrupted sends may be settled now. */
  echoesArrived(): void {}

  /** Something was queued: look at the outbox now. */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#running = this.#drain().finally(() => {
      this.#running = null;
      if (this.#again) {
        this.#again = false;
        this.wake();
      }
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }

  /** Sends every due row; then sleeps until the next one is due. */
  async #drain(): Promise<void> {
    try {
      for (;;) {
        const now = this.#now();
        const held = [...this.#holdUntil].filter(([, until]) => until > now).map(([id]) => id);
        const blocked = [
          ...held,
          ...this.#d
            .channels()
            .filter((c) => c.status === 'needs_token')
            .map((c) => c.id),
        ];
        let query = this.#d.db
          .selectFrom('outbox')
          .select(['id', 'channelId', 'messageId', 'conversationId', 'kind', 'body', 'human', 'attempts'])
          .where('status', '=', 'queued')
          .where('nextAttemptAt', '<=', now)
          .orderBy('nextAttemptAt')
          .orderBy('createdAt')
          .limit(50);
        if (blocked.length) query = query.where('channelId', 'not in', blocked);
        const rows = await query.execute();
        if (rows.length === 0 || this.#stopped) break;
        for (const row of rows) {
          if (this.#stopped) return;
          if ((this.#holdUntil.get(row.channelId) ?? 0) > this.#now()) continue;
          await this.#sendOne(row);
        }
      }
    } catch (err) {
      this.#d.log.error({ err }, 'sender failed; retrying in 1 s');
      this.#schedule(1000);
      return;
    }
    await this.#scheduleNext();
  }

  /**
   * Wakes up when the next row can actually go: its own time, or its channel's hold (throttle,
   * pause, open breaker) if later. Rows of a channel waiting for a new token do not wake it (the new
   * token comes with a restart); without this, such rows were due "now" and the sender polled the
   * store every 10 ms until then.
   */
  async #scheduleNext() {
    if (this.#stopped) return;
    const waitingForToken = this.#d
      .channels()
      .filter((c) => c.status === 'needs_token')
      .map((c) => c.id);
    let query = this.#d.db
      .selectFrom('outbox')
      .select((eb) => ['channelId', eb.fn.min('nextAttemptAt').as('next')])
      .where('status', '=', 'queued')
      .groupBy('channelId');
    if (waitingForToken.length) query = query.where('channelId', 'not in', waitingForToken);
    const rows = await query.execute();
    let at = Number.POSITIVE_INFINITY;
    for (const r of rows) {
      at = Math.min(at, Math.max(Number(r.next), this.#holdUntil.get(r.channelId) ?? 0));
    }
    if (Number.isFinite(at)) this.#schedule(Math.max(10, at - this.#now()));
  }

  #schedule(ms: number) {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.wake(), Math.min(ms, 60_000));
    this.#timer.unref();
  }

  async #sendOne(row: Row): Promise<void> {
    const { db } = this.#d;
    const channel = this.#d.channels().find((c) => c.id === row.channelId);
    if (!channel)
      return this.#fail(row, { reason: 'channel_missing', message: `No channel "${row.channelId}"` });
    const body = JSON.parse(row.body) as SendBody;

    // The window may have closed while the message waited.
    if (row.conversationId && 'id' in body.recipient) {
      const c = await db
        .selectFrom('conversations')
        .select('lastInboundAt')
        .where('id', '=', row.conversationId)
        .executeTakeFirst();
      const decision = messagePolicy({
        lastInboundAt: c?.lastInboundAt == null ? null : Number(c.lastInboundAt),
        human: row.human === 1,
        now: this.#now(),
      });
      if (!decision.allowed) return this.#fail(row, { reason: decision.reason, message: decision.message });
      if (decision.tag && !body.tag) {
        if (body.sender_action)
          return this.#fail(row, { reason: 'outside_window', message: 'The 24-hour window has closed' });
        Object.assign(body, { messaging_type: 'MESSAGE_TAG', tag: decision.tag });
      }
    }

    // Meta counts a call when it arrives, somewhere between leaving igdm and its answer. So wait
    // for room now but count the call once its answer is back: counted on leaving, a call slow in
    // transit and a fast one sent a second later could land in one window at Meta's end (seen: 6 in
    // 1 s with a limit of 5). The sender is the limiter's only user and makes one call at a time.
    const account = channel.accountId ?? channel.id;
    const recipient = 'id' in body.recipient ? body.recipient.id : null;
    const { limiter } = this.#d;
    let ms = limiter.wait(account, row.kind, recipient);
    if (ms > MAX_INLINE_WAIT_MS) {
      // Over a per-minute, per-hour or per-recipient cap: the row waits in the outbox, not the
      // sender (which would hold up every other customer and channel, and shutdown, meanwhile).
      await db
        .updateTable('outbox')
        .set({ nextAttemptAt: this.#now() + ms, updatedAt: this.#now() })
        .where('id', '=', row.id)
        .where('status', '=', 'queued')
        .execute();
      return;
    }
    while (ms > 0 && !this.#stopped) {
      await new Promise((resolve) => setTimeout(resolve, ms));
      ms = limiter.wait(account, row.kind, recipient);
    }
    if (this.#stopped) return;
    const claimed = await db
      .updateTable('outbox')
      .set({ status: 'sending', attempts: row.attempts + 1, updatedAt: this.#now() })
      .where('id', '=', row.id)
      .where('status', '=', 'queued')
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) === 0) return; // someone else has it

    try {
      const client = new GraphClient(channel, { timeoutMs: this.#d.graphTimeoutMs });
      const sent = await client.sendMessage(body).finally(() => limiter.record(account, row.kind, recipient));
      await this.#sent(row, channel, body, sent.messageId ?? null);
      this.#failuresInRow.delete(channel.id);
      if (channel.status !== 'ok') this.#health(channel, 'ok');
    } catch (err) {
      if (!(err instanceof GraphError)) throw err;
      await this.#failed(row, channel, err.failure);
    }
  }

  async #sent(row: Row, channel: Channel, body: SendBody, mid: string | null) {
    const now = this.#now();
    await this.#d.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('outbox')
        .set({ status: 'sent', mid, sentAt: now, updatedAt: now, error: null })
        .where('id', '=', row.id)
        .execute();
      if (row.messageId) {
        let echoed = false;
        if (mid) {
          // Meta's echo may have been applied before this answer was recorded: it made a row of its
          // own under the mid, which this message now replaces (and so it has been echoed).
          const deleted = await trx
            .deleteFrom('messages')
            .where('id', '=', messageIdOf(channel.id, mid))
            .where('id', '!=', row.messageId)
            .executeTakeFirst();
          echoed = Number(deleted.numDeletedRows) > 0;
        }
        await trx
          .updateTable('messages')
          .set({ status: 'sent', mid, error: null, updatedAt: now, ...(echoed && { isEcho: 1 }) })
          .where('id', '=', row.messageId)
          .execute();
      }
      if (body.sender_action === 'react' || body.sender_action === 'unreact') {
        await this.#reacted(trx, channel, body, now);
      }
    });
  }

  /** igdm's own reaction shows on the customer's message. */
  async #reacted(trx: Kysely<Database>, channel: Channel, body: SendBody, now: number) {
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

  async #failed(row: Row, channel: Channel, f: GraphFailure) {
    const now = this.#now();
    const attempts = row.attempts + 1;
    this.#d.log.warn(
      { channel: channel.id, outbox: row.id, action: f.action, code: f.code, reason: f.reason },
      'send failed',
    );
    switch (f.action) {
      case 'retry': {
        const inRow = (this.#failuresInRow.get(channel.id) ?? 0) + 1;
        this.#failuresInRow.set(channel.id, inRow);
        // The circuit breaker: a Graph API failing again and again is left alone for a while.
        if (inRow >= BREAKER_THRESHOLD) this.#holdUntil.set(channel.id, now + BREAKER_OPEN_MS);
        if (attempts >= MAX_ATTEMPTS) return this.#fail(row, f);
        return this.#requeue(row, now + backoffMs(attempts), f);
      }
      case 'throttle': {
        const wait = f.retryAfterMs ?? 60_000;
        this.#holdUntil.set(channel.id, now + wait);
        this.#health(channel, 'throttled');
        return this.#requeue(row, now + wait, f, row.attempts); // a throttled try does not count
      }
      case 'reauthorize':
        this.#health(channel, 'needs_token');
        return this.#requeue(row, now, f, row.attempts); // waits for the new token
      case 'pause':
        this.#holdUntil.set(channel.id, now + PAUSE_MS);
        this.#health(channel, 'paused');
        return this.#fail(row, f);
      default:
        return this.#fail(row, f);
    }
  }

  /** Back in the queue; the message shows the last failure meanwhile (still `queued`). */
  async #requeue(row: Row, at: number, f: GraphFailure, attempts?: number) {
    const now = this.#now();
    const error = JSON.stringify(errorView(f));
    await this.#d.db.transaction().execute(async (trx) => {
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
    });
  }

  async #fail(row: Row, f: Pick<GraphFailure, 'reason' | 'message'> & Partial<GraphFailure>) {
    const now = this.#now();
    const error = JSON.stringify(errorView(f));
    await this.#d.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('outbox')
        .set({ status: 'failed', error, updatedAt: now })
        .where('id', '=', row.id)
        .execute();
      if (row.messageId) {
        await trx
          .updateTable('messages')
          .set({ status: 'failed', error, updatedAt: now })
          .where('id', '=', row.messageId)
          .execute();
      }
    });
  }

  #health(channel: Channel, health: ChannelHealth) {
    channel.status = health;
    this.#d.onHealth?.(channel.id, health);
  }
}

/** What the API shows of a failure: never a token, never Meta's trace beyond its id. */
function errorView(f: Pick<GraphFailure, 'reason' | 'message'> & Partial<GraphFailure>) {
  return {
    reason: f.reason,
    message: f.message,
    ...(f.action && { action: f.action }),
    ...(f.code !== undefined && { code: f.code }),
    ...(f.subcode !== undefined && { subcode: f.subcode }),
    ...(f.fbtraceId && { fbtraceId: f.fbtraceId }),
  };
}
