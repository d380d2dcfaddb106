import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { GraphClient, GraphError } from '../graph/client.ts';
import type { Limiter } from '../graph/rate-limit.ts';
import type { WebhookWriter } from '../ingest/writer.ts';
import type { Logger } from '../log.ts';
import type { Channel } from '../store/channels.ts';
import { recordEvents } from '../store/events.ts';
import { messageIdOf } from '../store/ids.ts';
import type { ChannelHealth, Database } from '../store/schema.ts';
import { asWebhook, customerOf } from './as-webhook.ts';
import { conversationsSince, messageDetails, newestMessages } from './conversations-api.ts';
import { checkSubscription, type SubscriptionStatus } from './subscription.ts';

// Catching up on what Meta's webhooks did not bring (an outage: Meta retries for a while, then
// gives up, and disables a subscription that keeps failing). A run reads the Conversations API for
// the conversations active since a time, and for each message igdm does not have, its details (one
// call each), written as the webhook Meta would have sent through the ingest worker: the same event
// log, dedup key (the mid: a late webhook of the same message is not stored twice) and projector,
// flagged backfilled (automation: policy.ts). All of it at the Conversations API's 2 calls/s per
// account. Meta shows only a conversation's 20 newest messages, so a run is best effort: its report
// says what it checked, what it recovered and where messages may be missing.

/** Meta gives at most this many of a conversation's newest messages. */
export const NEWEST_MESSAGES = 20;

export type BackfillTrigger = 'start' | 'schedule' | 'import';

export interface BackfillReport {
  channelId: string;
  trigger: BackfillTrigger;
  since: number;
  startedAt: number;
  finishedAt: number;
  conversationsChecked: number;
  messagesRecovered: number;
  /** Conversations whose older messages Meta no longer shows: some from after `since` may be lost. */
  possiblyMissing: { conversationId: string; igsid: string | null; oldestShownAt: number }[];
  subscription: SubscriptionStatus;
  /** Why the run stopped early (a Graph API failure), if it did: what it recovered before is kept. */
  error: { reason: string; message: string } | null;
}

export interface BackfillDeps {
  db: Kysely<Database>;
  writer: WebhookWriter;
  channels: () => readonly Channel[];
  conversationsApi: Limiter;
  log: Logger;
  /** The channel's sending health (send/channel-health.ts), repeated in `channel.health` events. */
  health: (channelId: string) => ChannelHealth;
  /** Meta's clock (the policy's): tests move it. */
  now: () => number;
  graphTimeoutMs?: number;
}

/** How often a throttled or failed read is tried before the run stops. */
const READ_TRIES = 4;
/**
 * Runs look back a little before they need to: a message being delivered when igdm stopped, or
 * while the previous run read.
 */
const OVERLAP_MS = 60_000;

export class Backfill {
  readonly #d: BackfillDeps;
  /** One run per channel at a time: a second waits for the first. */
  readonly #running = new Map<string, Promise<unknown>>();
  readonly #subscriptions = new Map<string, SubscriptionStatus>();
  /** When each channel's last run started (schedule: the next one looks back to there). */
  readonly #lastRun = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  readonly #abort = new AbortController();

  constructor(deps: BackfillDeps) {
    this.#d = deps;
  }

  /** The webhook subscription as the last check found it (null: never checked). */
  subscriptionOf(channelId: string): SubscriptionStatus | null {
    return this.#subscriptions.get(channelId) ?? null;
  }

  /**
   * When igdm last received a webhook for the channel (null: never). Events are numbered as they
   * arrive: the newest of the channel's, read backwards from the end of the log (no index needed
   * for a channel that hears from Meta; one silent for long costs a longer read, once at start).
   */
  async lastHeard(channelId: string): Promise<number | null> {
    const r = await this.#d.db
      .selectFrom('webhookEvents')
      .select('receivedAt')
      .where('channelId', '=', channelId)
      .where('backfilled', '=', 0)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return r ? Number(r.receivedAt) : null;
  }

  /** At start: each channel with a token, since it last heard from Meta (none heard: nothing to catch up). */
  async onStart(): Promise<BackfillReport[]> {
    const reports: BackfillReport[] = [];
    for (const channel of this.#d.channels()) {
      if (!channel.accessToken || this.#stopped) continue;
      const heard = await this.lastHeard(channel.id);
      if (heard === null) continue;
      reports.push(await this.run(channel.id, heard - OVERLAP_MS, 'start'));
    }
    return reports;
  }

  /** Runs every `minutes`, each channel since its previous run began (or, before any, since it last heard from Meta). */
  schedule(minutes: number): void {
    if (this.#timer) clearInterval(this.#timer); // 0 ends the schedule (the leader's tasks stopped)
    this.#timer = null;
    if (minutes <= 0) return;
    this.#timer = setInterval(() => void this.#scheduled(), minutes * 60_000);
    this.#timer.unref();
  }

  async #scheduled() {
    for (const channel of this.#d.channels()) {
      if (!channel.accessToken || this.#stopped) continue;
      const from = this.#lastRun.get(channel.id) ?? (await this.lastHeard(channel.id));
      if (from === null) continue;
      await this.run(channel.id, from - OVERLAP_MS, 'schedule').catch((err: unknown) =>
        this.#d.log.error({ err, channel: channel.id }, 'backfill failed'),
      );
    }
  }

  /** No more runs; a run in progress stops at its next call (a wait is cut short). Resolves when it has. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#abort.abort();
    await Promise.allSettled([...this.#running.values()]);
  }

  /** Catches up on one channel since `since` (ms). Throws only for a channel that does not exist. */
  async run(channelId: string, since: number, trigger: BackfillTrigger): Promise<BackfillReport> {
    const before = this.#running.get(channelId);
    const next = (async () => {
      await before?.catch(() => {});
      return this.#run(channelId, since, trigger);
    })();
    this.#running.set(channelId, next);
    try {
      return await next;
    } finally {
      if (this.#running.get(channelId) === next) this.#running.delete(channelId);
    }
  }

  async #run(channelId: string, since: number, trigger: BackfillTrigger): Promise<BackfillReport> {
    const channel = this.#d.channels().find((c) => c.id === channelId);
    if (!channel) throw new Error(`no channel ${channelId}`);
    const startedAt = this.#d.now();
    this.#lastRun.set(channelId, startedAt);
    const client = new GraphClient(channel, { timeoutMs: this.#d.graphTimeoutMs });
    const account = channel.accountId ?? channel.id;
    const paced = <T>(call: () => Promise<T>) =>
      this.#patiently(() => this.#d.conversationsApi.run(account, call));
    const subscription = await checkSubscription(client, startedAt);
    await this.#subscriptionChecked(channelId, subscription);

    const report: BackfillReport = {
      channelId,
      trigger,
      since,
      startedAt,
      finishedAt: startedAt,
      conversationsChecked: 0,
      messagesRecovered: 0,
      possiblyMissing: [],
      subscription,
      error: null,
    };
    // Meta's times are in whole seconds.
    const from = Math.floor(since / 1000) * 1000;
    try {
      const conversations = await conversationsSince(client, paced, from);
      for (const conversation of conversations) {
        if (this.#stopped) break;
        const newest = await newestMessages(client, paced, conversation.id);
        report.conversationsChecked++;
        const recent = newest.filter((m) => !(m.createdAt < from));
        const known = await this.#knownMids(
          channelId,
          recent.map((m) => m.id),
        );
        let igsid: string | null = null;
        for (const m of recent) {
          if (known.has(m.id) || this.#stopped) continue;
          const details = await messageDetails(client, paced, m.id);
          igsid ??= customerOf(details, account);
          const body = igsid ? asWebhook(details, account, igsid, this.#d.now()) : null;
          if (!body) continue;
          const result = await this.#d.writer.write({
            body: JSON.stringify(body),
            channelId,
            verifiedBy: [],
            receivedAt: Date.now(),
            backfilled: true,
          });
          if (result.status !== 'stored') throw new Error(`backfilled message not stored: ${result.reason}`);
          if (result.inserted > 0) report.messagesRecovered++;
        }
        const oldest = newest.at(-1);
        if (newest.length >= NEWEST_MESSAGES && oldest && oldest.createdAt > from)
          report.possiblyMissing.push({
            conversationId: conversation.id,
            igsid,
            oldestShownAt: oldest.createdAt,
          });
      }
    } catch (err) {
      if (!(err instanceof GraphError)) throw err;
      report.error = { reason: err.failure.reason, message: err.failure.message };
    }
    report.finishedAt = this.#d.now();
    const log = report.error || report.possiblyMissing.length ? 'warn' : 'info';
    this.#d.log[log](
      {
        channel: channelId,
        trigger,
        since: new Date(since).toISOString(),
        conversationsChecked: report.conversationsChecked,
        messagesRecovered: report.messagesRecovered,
        possiblyMissing: report.possiblyMissing.length,
        subscription: subscription.state,
        ...(report.error && { error: report.error }),
      },
      'backfill done',
    );
    return report;
  }

  /**
   * Keeps what the check found; a change (or a first finding that is not `active`) is logged and is
   * `channel.health` in the event log, with the sending health and the subscription's state.
   */
  async #subscriptionChecked(channelId: string, found: SubscriptionStatus) {
    const before = this.#subscriptions.get(channelId)?.state ?? 'active';
    this.#subscriptions.set(channelId, found);
    if (found.state === before) return;
    if (found.state === 'inactive')
      this.#d.log.warn({ channel: channelId }, 'the app is not subscribed to the account’s messages webhook');
    const data = {
      channelId,
      status: this.#d.health(channelId),
      webhookSubscription: { state: found.state, detail: found.detail },
    };
    await recordEvents(
      this.#d.db,
      [{ event: 'channel.health', channelId, conversationId: null, data }],
      this.#d.now(),
    );
  }

  /**
   * A read Meta throttles (someone else used the account's 2 calls/s) or fails for a moment is made
   * again after the wait Meta asks for; after a few tries the run stops with the failure reported.
   */
  async #patiently<T>(read: () => Promise<T>): Promise<T> {
    for (let tried = 1; ; tried++) {
      try {
        return await read();
      } catch (err) {
        const f = err instanceof GraphError ? err.failure : null;
        if (!f || !['throttle', 'retry'].includes(f.action) || tried >= READ_TRIES || this.#stopped)
          throw err;
        const ms = Math.min(f.retryAfterMs ?? 1000 * tried, 60_000);
        await sleep(ms, undefined, { signal: this.#abort.signal }).catch(() => {
          throw err;
        });
      }
    }
  }

  /**
   * The mids igdm has already: received (a message's id is made from its mid) or sent itself (the
   * outbox knows the mid Meta gave). Both by index.
   */
  async #knownMids(channelId: string, mids: string[]): Promise<Set<string>> {
    if (mids.length === 0) return new Set();
    const received = await this.#d.db
      .selectFrom('messages')
      .select('mid')
      .where(
        'id',
        'in',
        mids.map((mid) => messageIdOf(channelId, mid)),
      )
      .execute();
    const sent = await this.#d.db
      .selectFrom('outbox')
      .select('mid')
      .where('channelId', '=', channelId)
      .where('mid', 'in', mids)
      .execute();
    return new Set([...received, ...sent].flatMap((r) => (r.mid ? [r.mid] : [])));
  }
}
