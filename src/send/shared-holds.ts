import { type Kysely, sql } from 'kysely';
import type { Logger } from '../log.ts';
import { WakeListener } from '../queue/postgres-wakes.ts';
import type { ChannelHealth, Database } from '../store/schema.ts';
import { BREAKER_OPEN_MS, BREAKER_THRESHOLD, type Health, type HoldChange } from './channel-health.ts';

// Channels' holds shared by every process on PostgreSQL: a throttle or a pause Meta imposed on one
// process's send, an open circuit breaker, a refused token hold the channel's sends in all of them.
// Each change a send's answer makes (channel-health.ts) is written to the channel's `channel_holds`
// row (migration 0025; the breaker counts every process's failures there and opens at the threshold)
// and NOTIFYed in the same statement; every process LISTENs and takes the row as it is. The health
// itself is stored in `channels.status` by the send's outcome, as on SQLite. A process starting, or
// whose LISTEN connection came back, reads every row. The sender reads its memory as before. A
// deleted channel's row goes in the transaction that deletes it (store/channels.ts, markDeleted).

export const HOLDS_CHANNEL = 'igdm_holds';
/** How long the start waits for LISTEN before it goes on with the rows alone. */
const LISTEN_WAIT_MS = 5000;

interface Notified {
  channelId: string;
  holdUntil: number;
  failuresInRow: number;
  health: ChannelHealth | null;
}

export interface SharedHoldsOptions {
  db: Kysely<Database>;
  /** Where to LISTEN (DATABASE_URL). */
  connection: string;
  health: Health;
  log: Logger;
  now: () => number;
  /** A channel may send again (a new token set elsewhere): its waiting sends should look now. */
  lifted: () => void;
}

export class SharedHolds {
  readonly #o: SharedHoldsOptions;
  readonly #listener: WakeListener;
  /** One write at a time, in the order of the changes (each notification carries the row after it). */
  #writes: Promise<void> = Promise.resolve();
  /** Resolves once LISTEN is on (and every row was read then). */
  readonly #listening: Promise<void>;

  private constructor(o: SharedHoldsOptions) {
    this.#o = o;
    let listening = () => {};
    this.#listening = new Promise((resolve) => {
      listening = resolve;
    });
    this.#listener = new WakeListener({
      connection: o.connection,
      channel: HOLDS_CHANNEL,
      log: o.log,
      onWake: (payload) => {
        // null: LISTEN is on (again); what was notified meanwhile is read from the rows.
        if (payload === null) void this.#readAll().then(listening);
        else this.#apply(JSON.parse(payload) as Notified);
      },
    });
  }

  /**
   * Listens for the other processes' changes, reads every channel's hold (after LISTEN is on, so
   * nothing falls between), then shares this process's. Without LISTEN (PostgreSQL refuses it),
   * it reads the rows and starts anyway; the listener keeps trying.
   */
  static async start(o: SharedHoldsOptions): Promise<SharedHolds> {
    const holds = new SharedHolds(o);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, LISTEN_WAIT_MS);
    });
    await Promise.race([holds.#listening, late.then(() => holds.#readAll())]);
    clearTimeout(timer);
    o.health.share((channelId, change) => holds.#write(channelId, change));
    return holds;
  }

  /** Resolves once every change so far is written (tests; and before the pool closes). */
  async flushed(): Promise<void> {
    await this.#writes;
  }

  async close(): Promise<void> {
    await this.flushed();
    await this.#listener.close();
  }

  async #readAll(): Promise<void> {
    try {
      const rows = await this.#o.db.selectFrom('channelHolds').selectAll().execute();
      for (const r of rows)
        this.#o.health.applyShared(r.channelId, {
          holdUntil: Number(r.holdUntil),
          failuresInRow: Number(r.failuresInRow),
          health: r.health,
        });
    } catch (err) {
      this.#o.log.error({ err }, 'could not read the channels’ shared holds');
    }
  }

  #apply(n: Notified): void {
    const before = this.#o.health.of(n.channelId);
    this.#o.health.applyShared(n.channelId, n);
    if (n.health && n.health !== before)
      this.#o.log.info({ channel: n.channelId, health: n.health }, 'channel health changed (shared)');
    if (before === 'needs_token' && n.health === 'ok') {
      try {
        this.#o.lifted();
      } catch (err) {
        this.#o.log.error({ err }, 'could not wake the sends held for a token');
      }
    }
  }

  #write(channelId: string, change: HoldChange): void {
    const now = this.#o.now();
    const failed = change.failedAt !== undefined;
    const hold = change.holdUntil ?? null;
    const opensAt = (change.failedAt ?? now) + BREAKER_OPEN_MS;
    const health = change.health ?? null;
    // One statement: the row changed as this process's memory was, and NOTIFY with the row after it.
    const statement = sql`with h as (
        insert into channel_holds as h (channel_id, hold_until, failures_in_row, health, updated_at)
        values (${channelId}, coalesce(${hold}::bigint, 0), ${failed ? 1 : 0}, ${health}::text, ${now})
        on conflict (channel_id) do update set
          health = coalesce(${health}::text, h.health),
          failures_in_row = case
            when ${failed} then h.failures_in_row + 1
            when ${change.closed === true} then 0
            else h.failures_in_row end,
          hold_until = case
            when ${hold}::bigint is not null then ${hold}::bigint
            when ${failed} and h.failures_in_row + 1 >= ${BREAKER_THRESHOLD}
              then greatest(h.hold_until, ${opensAt}::bigint)
            else h.hold_until end,
          updated_at = ${now}
        returning channel_id, hold_until, failures_in_row)
      select pg_notify(${HOLDS_CHANNEL}, json_build_object(
        'channelId', channel_id, 'holdUntil', hold_until, 'failuresInRow', failures_in_row,
        'health', ${health}::text)::text) from h`;
    this.#writes = this.#writes
      .then(() => statement.execute(this.#o.db))
      .then(
        () => {},
        (err: unknown) =>
          this.#o.log.error(
            { err, channel: channelId },
            'could not share a channel’s hold with the other processes',
          ),
      );
  }
}
