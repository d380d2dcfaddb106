import { seg, type Transport } from './transport.ts';
import type { BackfillReport, Channel, ChannelLogin, IceBreaker } from './types.ts';

/** A channel to connect: one Instagram professional account. */
export interface NewChannel {
  /** Letters, digits, `_` or `-`; igdm makes one (`ch_…`) when not given. */
  id?: string;
  name: string;
  /** The Instagram professional account id (`entry[].id` of its webhooks). */
  accountId: string;
  /** The linked Page id (Facebook Login). */
  pageId?: string | null;
  /** Default `instagram`. */
  login?: ChannelLogin;
  accessToken: string;
  appSecret: string;
  verifyToken: string;
  /** A URL without a version gets igdm's GRAPH_API_VERSION. */
  graphApiUrl?: string;
  /** The Meta app's id: igdm asks Meta's debug_token when the token expires. */
  appId?: string | null;
}

/**
 * What to change (at least one field). A new `accessToken` resumes a channel that needs one;
 * `pageId: null` removes the Page, `graphApiUrl: null` goes back to the login's.
 */
export interface ChannelChange {
  name?: string;
  accountId?: string;
  pageId?: string | null;
  login?: ChannelLogin;
  accessToken?: string;
  appSecret?: string;
  verifyToken?: string;
  graphApiUrl?: string | null;
  appId?: string | null;
}

export class Channels {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  /** The channels the key sees, with their health. */
  async list(): Promise<Channel[]> {
    const { data } = await this.#t.request<{ data: Channel[] }>({ method: 'GET', path: '/v1/channels' });
    return data;
  }

  get(id: string): Promise<Channel> {
    return this.#t.request({ method: 'GET', path: `/v1/channels/${seg(id)}` });
  }

  create(channel: NewChannel): Promise<Channel> {
    return this.#t.request({ method: 'POST', path: '/v1/channels', body: channel });
  }

  update(id: string, change: ChannelChange): Promise<Channel> {
    return this.#t.request({ method: 'PATCH', path: `/v1/channels/${seg(id)}`, body: change });
  }

  /**
   * Reads the channel's recent history (or what an outage lost) from Meta's Conversations API:
   * messages since `since` (default: the last 24 hours), stored once and flagged `backfilled`. At 2
   * calls/s it can take minutes on a busy account; the answer is the run's report.
   */
  import(id: string, options: { since?: string | Date } = {}): Promise<BackfillReport> {
    const since = options.since instanceof Date ? options.since.toISOString() : options.since;
    return this.#t.request({
      method: 'POST',
      path: `/v1/channels/${seg(id)}/import`,
      body: since === undefined ? {} : { since },
    });
  }

  /** Stops it; its conversations stay readable. The `default` channel answers 409 `default_channel`. */
  async delete(id: string): Promise<void> {
    await this.#t.request({ method: 'DELETE', path: `/v1/channels/${seg(id)}` });
  }
}

export interface IceBreakerSettings {
  channelId: string;
  /** At most 4; an empty list removes them. */
  iceBreakers: IceBreaker[];
}

/** Settings Instagram keeps for an account. */
export class Instagram {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  /** The questions a customer can tap to start a conversation. */
  async setIceBreakers({ channelId, iceBreakers }: IceBreakerSettings): Promise<IceBreaker[]> {
    const answer = await this.#t.request<{ iceBreakers: IceBreaker[] }>({
      method: 'PUT',
      path: `/v1/channels/${seg(channelId)}/ice-breakers`,
      body: { iceBreakers },
    });
    return answer.iceBreakers;
  }
}
