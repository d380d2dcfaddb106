import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { GraphClient, GraphError } from '../graph/client.ts';
import type { Logger } from '../log.ts';
import { type Channel, healthEvent } from '../store/channels.ts';
import { recordEvents } from '../store/events.ts';
import type { ChannelHealth, ChannelTokenTable, Database, TokenState } from '../store/schema.ts';
import type { ChannelChange, ChannelRegistry } from './registry.ts';

// Keeps channels' access tokens alive. Instagram Login's long-lived tokens expire 60 days after they
// were issued or last refreshed, and Meta refreshes one only once it is 24 h old
// (GET refresh_access_token). igdm learns each token's expiry (debug_token, when the channel has an
// app id; else the first refresh's expires_in), refreshes it from 20 days before its expiry (so a
// failure has days of retries left), stores the new token encrypted like one set through the API,
// and warns (log, `channel.health` event, token state `expiring`) from 7 days before, which is when
// refreshing has kept failing. Facebook Login Page tokens are not refreshed this way: their expiry
// (often never) is only shown.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Meta refreshes a token only once it is at least 24 h old. */
export const MIN_REFRESH_AGE_MS = DAY;
/** Refreshed from this long before it expires. */
export const REFRESH_AHEAD_MS = 20 * DAY;
/** Warned about from this long before it expires (it could not be refreshed). */
export const WARN_AHEAD_MS = 7 * DAY;
/** How often the tokens are looked at. */
export const CHECK_EVERY_MS = HOUR;

type TokenRecord = Omit<ChannelTokenTable, 'updatedAt'>;

/** What the API, `igdm doctor` and `channel.health` show of a channel's token. */
export interface TokenView {
  state: TokenState;
  /** ISO time; null when unknown or when it does not expire. */
  expiresAt: string | null;
  /** Whole days left (0 in its last day); null when unknown or when it does not expire. */
  expiresInDays: number | null;
  refreshedAt: string | null;
  /** Why it could not be refreshed (or checked), if so. */
  problem: string | null;
}

/** A token's digest: which token a record is about, without keeping the token. */
const digestOf = (token: string) => createHash('sha256').update(token).digest('hex');

/** A token's state at `now`: `expiring` within 7 days of its expiry, `expired` past it. */
export function tokenState(r: Pick<TokenRecord, 'expiresAt'>, now: number): TokenState {
  if (r.expiresAt === null) return 'unknown';
  if (r.expiresAt === 0) return 'ok'; // never expires
  if (r.expiresAt <= now) return 'expired';
  return r.expiresAt - now <= WARN_AHEAD_MS ? 'expiring' : 'ok';
}

export function tokenView(r: TokenRecord | undefined, now: number): TokenView {
  if (!r) return { state: 'unknown', expiresAt: null, expiresInDays: null, refreshedAt: null, problem: null };
  const expires = r.expiresAt !== null && r.expiresAt > 0 ? r.expiresAt : null;
  return {
    state: tokenState(r, now),
    expiresAt: expires === null ? null : new Date(expires).toISOString(),
    expiresInDays: expires === null ? null : Math.max(0, Math.floor((expires - now) / DAY)),
    refreshedAt: r.refreshedAt === null ? null : new Date(r.refreshedAt).toISOString(),
    problem: r.problem,
  };
}

const problemOf = (what: string, err: unknown) =>
  `${what}: ${err instanceof GraphError ? `${err.failure.reason} (${err.failure.message})` : String(err)}`;

export interface TokenKeeperDeps {
  db: Kysely<Database>;
  registry: ChannelRegistry;
  log: Logger;
  now: () => number;
  /** The channel's sending health, shown with the token in `channel.health`. */
  health: (channelId: string) => ChannelHealth;
  /** Events were recorded: the stream and the webhook deliveries look now. */
  recorded?: () => void;
  graphTimeoutMs?: number;
  checkEveryMs?: number;
}

export class TokenKeeper {
  readonly #deps: TokenKeeperDeps;
  readonly #records = new Map<string, TokenRecord>();
  #timer: NodeJS.Timeout | undefined;
  /** The check running, if one is: checks never overlap. */
  #running: Promise<void> | undefined;
  #again = false;

  readonly #changed = (change: ChannelChange) => {
    if (change.type !== 'deleted') void this.check();
  };

  constructor(deps: TokenKeeperDeps) {
    this.#deps = deps;
  }

  /** Reads the records, checks the tokens now (in the background) and then every hour. */
  async start(): Promise<void> {
    await this.load();
    void this.check();
    // A channel created, or given a token: its token is looked at now, not within the hour.
    this.#deps.registry.on('changed', this.#changed);
    this.#timer = setInterval(() => void this.check(), this.#deps.checkEveryMs ?? CHECK_EVERY_MS).unref();
  }

  /**
   * Reads the records (what start does first; a process that shows tokens without checking them
   * reads them again when another process changed them: cluster/notices.ts).
   */
  async load(): Promise<void> {
    const rows = await this.#deps.db.selectFrom('channelTokens').selectAll().execute();
    for (const { updatedAt: _, ...r } of rows)
      this.#records.set(r.channelId, {
        ...r,
        knownSince: Number(r.knownSince),
        expiresAt: r.expiresAt === null ? null : Number(r.expiresAt),
        refreshedAt: r.refreshedAt === null ? null : Number(r.refreshedAt),
      });
  }

  /** Stops the schedule and waits for a check under way. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#deps.registry.off('changed', this.#changed);
    await this.#running;
  }

  /** What is known of the channel's current token. */
  view(channel: Channel): TokenView {
    const r = this.#records.get(channel.id);
    const current =
      r && channel.accessToken && r.tokenDigest === digestOf(channel.accessToken) ? r : undefined;
    return tokenView(current, this.#deps.now());
  }

  /**
   * Looks at every live channel's token: learns its expiry, refreshes it when due. Asked while a
   * check runs (a channel changed meanwhile), another follows it.
   */
  check(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          for (const channel of this.#deps.registry.list()) {
            try {
              await this.#checkOne(channel);
            } catch (err) {
              this.#deps.log.error({ err, channel: channel.id }, 'token check failed');
            }
          }
        } while (this.#again);
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  async #checkOne(channel: Channel): Promise<void> {
    if (!channel.accessToken) return;
    const { now, log } = this.#deps;
    const before = this.#records.get(channel.id);
    let record = before;
    if (!record || record.tokenDigest !== digestOf(channel.accessToken)) {
      // A token igdm has not seen (a new channel, a token set through the API or the environment).
      record = await this.#learn(channel);
    }
    if (this.#refreshDue(channel, record, now())) record = await this.#refresh(channel, record);
    await this.#save(channel.id, record, before);
    if (record.state === 'expiring' || record.state === 'expired')
      if (before?.state !== record.state || before.problem !== record.problem)
        log.warn(
          { channel: channel.id, expiresAt: tokenView(record, now()).expiresAt, problem: record.problem },
          record.state === 'expired'
            ? 'the access token has expired: set a new one (PATCH /v1/channels/:id)'
            : 'the access token expires within 7 days and could not be refreshed: set a new one soon',
        );
  }

  /** A new token's record: its expiry from debug_token when the channel has an app id. */
  async #learn(channel: Channel): Promise<TokenRecord> {
    const now = this.#deps.now();
    const record: TokenRecord = {
      channelId: channel.id,
      tokenDigest: digestOf(channel.accessToken!),
      knownSince: now,
      expiresAt: null,
      refreshedAt: null,
      problem: null,
      state: 'unknown',
    };
    if (channel.appId && channel.appSecret) {
      try {
        const debug = await this.#client(channel).debugToken(channel.appId, channel.appSecret);
        if (debug.valid) record.expiresAt = debug.expiresAt;
        else record.problem = 'debug_token: Meta says the token is not valid';
      } catch (err) {
        record.problem = problemOf('debug_token', err);
      }
    }
    return { ...record, state: tokenState(record, now) };
  }

  /**
   * Instagram Login tokens only, 24 h after igdm got them: from 20 days before their expiry, or
   * at once when the expiry is unknown (the answer tells it).
   */
  #refreshDue(channel: Channel, r: TokenRecord, now: number): boolean {
    if (channel.login !== 'instagram' || r.expiresAt === 0) return false;
    if (r.expiresAt !== null && r.expiresAt <= now) return false; // Meta refreshes no expired token
    const age = now - (r.refreshedAt ?? r.knownSince);
    if (age < MIN_REFRESH_AGE_MS) return false;
    return r.expiresAt === null || r.expiresAt - now <= REFRESH_AHEAD_MS;
  }

  async #refresh(channel: Channel, r: TokenRecord): Promise<TokenRecord> {
    const { now, log, registry } = this.#deps;
    let answer: Awaited<ReturnType<GraphClient['refreshAccessToken']>>;
    try {
      answer = await this.#client(channel).refreshAccessToken();
    } catch (err) {
      const failed = { ...r, problem: problemOf('refresh_access_token', err) };
      return { ...failed, state: tokenState(failed, now()) };
    }
    const at = now();
    const stored = await registry.tokenRefreshed(channel.id, channel.accessToken!, answer.accessToken);
    if (!stored) return r; // the token was changed meanwhile: the next check looks at the new one
    const fresh: TokenRecord = {
      channelId: channel.id,
      tokenDigest: digestOf(answer.accessToken),
      knownSince: at,
      expiresAt: answer.expiresInSeconds === null ? null : at + answer.expiresInSeconds * 1000,
      refreshedAt: at,
      problem: null,
      state: 'unknown',
    };
    fresh.state = tokenState(fresh, at);
    log.info({ channel: channel.id, expiresAt: tokenView(fresh, at).expiresAt }, 'access token refreshed');
    return fresh;
  }

  /** Stores the record; a change of state, expiry or problem is `channel.health` in the event log. */
  async #save(channelId: string, r: TokenRecord, before: TokenRecord | undefined): Promise<void> {
    const now = this.#deps.now();
    const stored =
      before !== undefined &&
      before.tokenDigest === r.tokenDigest &&
      before.state === r.state &&
      before.expiresAt === r.expiresAt &&
      before.problem === r.problem;
    this.#records.set(channelId, r);
    if (stored) return;
    // Nothing learnt yet about a token is no news: stored, without an event.
    const news = before !== undefined || r.expiresAt !== null || r.problem !== null;
    await this.#deps.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('channelTokens')
        .values({ ...r, updatedAt: now })
        .onConflict((oc) => oc.column('channelId').doUpdateSet({ ...r, updatedAt: now }))
        .execute();
      if (!news) return;
      const event = healthEvent(channelId, this.#deps.health(channelId));
      await recordEvents(
        trx,
        [{ ...event, data: { ...(event.data as object), token: tokenView(r, now) } }],
        now,
      );
    });
    if (news) this.#deps.recorded?.();
  }

  #client(channel: Channel): GraphClient {
    return new GraphClient(channel, { timeoutMs: this.#deps.graphTimeoutMs });
  }
}
