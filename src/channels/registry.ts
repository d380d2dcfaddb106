import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import type { ChannelRoute } from '../ingest/protocol.ts';
import {
  type Channel,
  channelWithAccount,
  deletedAccounts,
  insertChannel,
  loadChannels,
  markDeleted,
  readChannel,
  releaseAccount,
  updateChannel,
} from '../store/channels.ts';
import type { Database } from '../store/schema.ts';
import type { SecretBox } from '../store/secret-box.ts';
import { setThroughApi, withEnvironment } from './env-channel.ts';

// The live channel list, and its one owner: every change (the environment's channel at start, a
// create, a patch or a delete through the API) is stored, then the list is replaced and `changed`
// tells whoever follows it (the ingest worker's routes, the sender's held sends). Everything else
// reads `list()`, which is always the current list: nothing keeps a copy.

export type ChannelChange =
  | { type: 'created' | 'deleted'; channel: Channel }
  /** `tokenSet`: an access token was given (the channel no longer waits for one). */
  | { type: 'updated'; channel: Channel; tokenSet: boolean };

export type CreateResult = { created: Channel } | { conflict: 'id' | 'account'; other?: string };
export type UpdateResult = { updated: Channel } | { notFound: true } | { conflict: 'account'; other: string };
export type RemoveResult = 'deleted' | 'not_found' | 'environment';

interface RegistryEvents {
  changed: [ChannelChange];
}

export class ChannelRegistry extends EventEmitter<RegistryEvents> {
  readonly #db: Kysely<Database>;
  readonly #box: SecretBox;
  readonly #now: () => number;
  #live: readonly Channel[] = [];
  /** Where deleted channels' webhooks would have gone: nowhere now. */
  #deletedRoutes: readonly ChannelRoute[] = [];
  /** Channels that come from the environment (`default`): removed with its variables, not the API. */
  readonly #fromEnvironment = new Set<string>();
  /** Changes one at a time: each reads what the one before wrote. */
  #turn: Promise<unknown> = Promise.resolve();

  constructor(db: Kysely<Database>, box: SecretBox, now: () => number = Date.now) {
    super();
    this.#db = db;
    this.#box = box;
    this.#now = now;
  }

  /** The live channels, by id. */
  readonly list = (): readonly Channel[] => this.#live;

  get(id: string): Channel | undefined {
    return this.#live.find((c) => c.id === id);
  }

  /**
   * Where the ingest worker routes events by entry id: to each live channel, and nowhere for a
   * deleted one's account (not to another channel of its app, which the signature would allow).
   */
  routes(): ChannelRoute[] {
    return [
      ...this.#live.map(({ id, accountId, pageId }) => ({ id, accountId, pageId })),
      ...this.#deletedRoutes,
    ];
  }

  /** Loads the channels from the store. */
  load(): Promise<void> {
    return this.#serial(() => this.#read());
  }

  /**
   * The environment's channel (or the sandbox's), merged with the fields set through the API whose
   * environment value has not changed since. Stored anew, it starts afresh (health ok).
   */
  applyEnvironment(env: Channel): Promise<Channel> {
    return this.#serial(async () => {
      const stored = await readChannel(this.#db, this.#box, env.id);
      const { channel, apiFields } = withEnvironment(env, stored);
      if (!stored) await insertChannel(this.#db, this.#box, channel, apiFields, this.#now());
      else
        await this.#db
          .transaction()
          .execute((trx) => updateChannel(trx, this.#box, channel, apiFields, this.#now(), 'reset'));
      this.#fromEnvironment.add(env.id);
      // Stored anew with health ok: a channel that waited for a token tries the one it has now.
      await this.#reload({ type: stored ? 'updated' : 'created', channel, tokenSet: true });
      return channel;
    });
  }

  create(channel: Channel): Promise<CreateResult> {
    return this.#serial(async (): Promise<CreateResult> => {
      if (channel.accountId) {
        const other = await channelWithAccount(this.#db, channel.accountId);
        if (other) return { conflict: 'account', other };
      }
      if (await readChannel(this.#db, this.#box, channel.id)) return { conflict: 'id' };
      // A deleted channel gives up the account in the write that connects it again.
      await this.#db.transaction().execute(async (trx) => {
        if (channel.accountId) await releaseAccount(trx, channel.accountId);
        await insertChannel(trx, this.#box, channel, null, this.#now());
      });
      await this.#reload({ type: 'created', channel });
      return { created: channel };
    });
  }

  /** Applies `change` to the live channel `id`. `tokenSet`: the change gives an access token. */
  update(id: string, change: (c: Channel) => Channel, tokenSet: boolean): Promise<UpdateResult> {
    return this.#serial(async (): Promise<UpdateResult> => {
      const stored = await readChannel(this.#db, this.#box, id);
      if (!stored || stored.deletedAt !== null) return { notFound: true };
      const channel = change(stored.channel);
      if (channel.accountId && channel.accountId !== stored.channel.accountId) {
        const other = await channelWithAccount(this.#db, channel.accountId);
        if (other) return { conflict: 'account', other };
      }
      // The environment's channel remembers what the API set over it (an API channel has no environment).
      const apiFields = stored.apiFields && setThroughApi(stored.channel, channel, stored.apiFields);
      await this.#db.transaction().execute(async (trx) => {
        if (channel.accountId !== stored.channel.accountId && channel.accountId)
          await releaseAccount(trx, channel.accountId);
        await updateChannel(
          trx,
          this.#box,
          channel,
          apiFields,
          this.#now(),
          tokenSet ? 'freshToken' : undefined,
        );
      });
      await this.#reload({ type: 'updated', channel, tokenSet });
      return { updated: channel };
    });
  }

  /**
   * A token Meta refreshed (channels/token-keeper.ts), if the channel still has `old`: stored like
   * a token set through the API, so it wins over the environment's value until that changes.
   */
  tokenRefreshed(id: string, old: string, fresh: string): Promise<Channel | undefined> {
    return this.#serial(async () => {
      const stored = await readChannel(this.#db, this.#box, id);
      if (!stored || stored.deletedAt !== null || stored.channel.accessToken !== old) return undefined;
      const channel: Channel = { ...stored.channel, accessToken: fresh };
      const apiFields = stored.apiFields && setThroughApi(stored.channel, channel, stored.apiFields);
      await this.#db
        .transaction()
        .execute((trx) => updateChannel(trx, this.#box, channel, apiFields, this.#now()));
      await this.#reload({ type: 'updated', channel, tokenSet: false });
      return channel;
    });
  }

  remove(id: string): Promise<RemoveResult> {
    return this.#serial(async (): Promise<RemoveResult> => {
      const channel = this.get(id);
      if (!channel) return 'not_found';
      if (this.#fromEnvironment.has(id)) return 'environment';
      await this.#db.transaction().execute((trx) => markDeleted(trx, this.#box, id, this.#now()));
      await this.#reload({ type: 'deleted', channel });
      return 'deleted';
    });
  }

  /**
   * Reads the channels again after another process changed them (cluster/notices.ts), and tells
   * what differs from the list this process had, as if the change had been made here.
   */
  refresh(): Promise<void> {
    return this.#serial(async () => {
      const before = new Map(this.#live.map((c) => [c.id, c]));
      await this.#read();
      for (const channel of this.#live) {
        const was = before.get(channel.id);
        before.delete(channel.id);
        if (!was) this.emit('changed', { type: 'created', channel });
        else if (JSON.stringify(was) !== JSON.stringify(channel))
          this.emit('changed', {
            type: 'updated',
            channel,
            tokenSet: channel.accessToken !== null && channel.accessToken !== was.accessToken,
          });
      }
      for (const channel of before.values()) this.emit('changed', { type: 'deleted', channel });
    });
  }

  async #read(): Promise<void> {
    this.#live = await loadChannels(this.#db, this.#box);
    this.#deletedRoutes = (await deletedAccounts(this.#db)).map((r) => ({ ...r, deleted: true }));
  }

  async #reload(change: ChannelChange): Promise<void> {
    await this.#read();
    this.emit('changed', change);
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#turn.then(task);
    this.#turn = run.catch(() => {});
    return run;
  }
}
