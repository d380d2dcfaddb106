import type { Kysely } from 'kysely';
import type { Logger } from '../log.ts';
import { healthEvent } from '../store/channels.ts';
import { recordEvents } from '../store/events.ts';
import { builder } from '../store/index.ts';
import { compile, param as p } from '../store/prepared.ts';
import type { ChannelHealth, Database } from '../store/schema.ts';

// Each channel's health (ok, throttled, needs_token, paused) and the holds that keep it from
// sending: a throttle (as long as Meta says), a pause (368), an open circuit breaker, or a token
// Meta refused (until a new one is set). One owner: the sender changes it on a send's answer and
// stores it in the write of that send's outcome; the API and the sender's jobs only read it, except
// that a new token set through the API ends the wait for one (tokenSet).

export const BREAKER_THRESHOLD = 5;
export const BREAKER_OPEN_MS = 30_000;
/** How long a policy block (368) keeps the channel from sending. */
const PAUSE_MS = 60 * 60 * 1000;

const saveStatus = compile<{ id: string; status: ChannelHealth; now: number }>(
  builder
    .updateTable('channels')
    .set({ status: p<ChannelHealth>('status'), updatedAt: p<number>('now') })
    .where('id', '=', p<string>('id')),
);

/** A change of health, stored with the outcome of the send that caused it. */
export interface HealthChange {
  channelId: string;
  health: ChannelHealth;
}

/** Stores a channel's health, with `channel.health` in the event log, in the transaction of the outcome that changed it. */
export async function saveHealth(trx: Kysely<Database>, change: HealthChange, now: number): Promise<void> {
  await saveStatus.run(trx, { id: change.channelId, status: change.health, now });
  await recordEvents(trx, [healthEvent(change.channelId, change.health)], now);
}

/**
 * What a send's answer changed in a channel's hold, for the other processes (send/shared-holds.ts, on
 * PostgreSQL): a hold's end, a failure (the breaker counts it, and opens at the threshold), the
 * breaker closed, the health.
 */
export interface HoldChange {
  holdUntil?: number;
  failedAt?: number;
  closed?: true;
  health?: ChannelHealth;
}

/** A channel's holds as the shared store has them (send/shared-holds.ts). */
export interface SharedHold {
  holdUntil: number;
  failuresInRow: number;
  /** The health that change set, if it set one. */
  health: ChannelHealth | null;
}

export class Health {
  readonly #health: Map<string, ChannelHealth>;
  /** Per channel: not before this time (throttle, pause, open breaker). */
  readonly #holdUntil = new Map<string, number>();
  readonly #failuresInRow = new Map<string, number>();
  readonly #log: Logger;
  /** Where changes go for the other processes (PostgreSQL); null: this process is alone (SQLite). */
  #shared: ((channelId: string, change: HoldChange) => void) | null = null;

  constructor(stored: Iterable<[string, ChannelHealth]>, log: Logger) {
    this.#health = new Map(stored);
    this.#log = log;
  }

  /** The health the store has for each channel. */
  static async load(db: Kysely<Database>, log: Logger): Promise<Health> {
    const rows = await db.selectFrom('channels').select(['id', 'status']).execute();
    return new Health(
      rows.map((r) => [r.id, r.status]),
      log,
    );
  }

  /** Tells `sink` of every change from now on, for the other processes to see (send/shared-holds.ts). */
  share(sink: (channelId: string, change: HoldChange) => void): void {
    this.#shared = sink;
  }

  /** A change another process made (or this one, read back): taken as the shared store has it. */
  applyShared(channelId: string, hold: SharedHold): void {
    if (hold.holdUntil > 0) this.#holdUntil.set(channelId, hold.holdUntil);
    else this.#holdUntil.delete(channelId);
    if (hold.failuresInRow > 0) this.#failuresInRow.set(channelId, hold.failuresInRow);
    else this.#failuresInRow.delete(channelId);
    if (hold.health) this.#health.set(channelId, hold.health);
  }

  of(channelId: string): ChannelHealth {
    return this.#health.get(channelId) ?? 'ok';
  }

  /** Whether the channel may send now: not held, and its token not refused. */
  canSend(channelId: string, now: number): boolean {
    return (this.#holdUntil.get(channelId) ?? 0) <= now && this.of(channelId) !== 'needs_token';
  }

  /** How long the channel may not send from `now`: 0, the rest of a hold, or Infinity until a new token. */
  holdMs(channelId: string, now: number): number {
    if (this.of(channelId) === 'needs_token') return Number.POSITIVE_INFINITY;
    return Math.max(0, (this.#holdUntil.get(channelId) ?? 0) - now);
  }

  /** When the channel's hold ends (undefined: never held). */
  heldUntil(channelId: string): number | undefined {
    return this.#holdUntil.get(channelId);
  }

  // What a send's answer means for its channel. A change of health is returned, for the send's
  // outcome to store.

  /** A send went: the breaker closes, and the channel is ok (again). */
  sent(channelId: string): HealthChange | undefined {
    const failing = this.#failuresInRow.delete(channelId);
    const change = this.of(channelId) === 'ok' ? undefined : this.#set(channelId, 'ok');
    // Shared only when something changed: nothing is written for a send like the one before.
    if (this.#shared && (failing || change))
      this.#shared(channelId, { closed: true, health: change?.health });
    return change;
  }

  /**
   * The circuit breaker: a Graph API failing again and again is left alone for a while. Returns the
   * end of the hold when the breaker opens.
   */
  failed(channelId: string, now: number): number | undefined {
    const inRow = (this.#failuresInRow.get(channelId) ?? 0) + 1;
    this.#failuresInRow.set(channelId, inRow);
    // The shared count (every process's failures) opens the breaker there, and tells every process.
    this.#shared?.(channelId, { failedAt: now });
    if (inRow < BREAKER_THRESHOLD) return undefined;
    this.#holdUntil.set(channelId, now + BREAKER_OPEN_MS);
    return now + BREAKER_OPEN_MS;
  }

  /** Meta throttles the channel until then. */
  throttled(channelId: string, until: number): HealthChange {
    this.#holdUntil.set(channelId, until);
    this.#shared?.(channelId, { holdUntil: until, health: 'throttled' });
    return this.#set(channelId, 'throttled');
  }

  /** Meta refused the token: nothing more is sent until a new one is set. */
  needsToken(channelId: string): HealthChange {
    this.#shared?.(channelId, { health: 'needs_token' });
    return this.#set(channelId, 'needs_token');
  }

  /**
   * A new token was set (through the API): a channel waiting for one may send again. Its row was
   * changed in the same write as the token (store/channels.ts, updateChannel).
   */
  tokenSet(channelId: string): HealthChange | undefined {
    this.#failuresInRow.delete(channelId);
    const change = this.of(channelId) === 'needs_token' ? this.#set(channelId, 'ok') : undefined;
    this.#shared?.(channelId, { closed: true, health: change?.health });
    return change;
  }

  /** Blocked for policy: paused for an hour. Returns the end of the pause. */
  paused(channelId: string, now: number): HealthChange & { until: number } {
    const until = now + PAUSE_MS;
    this.#holdUntil.set(channelId, until);
    this.#shared?.(channelId, { holdUntil: until, health: 'paused' });
    return { ...this.#set(channelId, 'paused'), until };
  }

  #set(channelId: string, health: ChannelHealth): HealthChange {
    this.#health.set(channelId, health);
    this.#log.warn({ channel: channelId, health }, 'channel health changed');
    return { channelId, health };
  }
}
