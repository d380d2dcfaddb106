import type { ChannelSettings } from '../config.ts';
import type { Channel } from '../store/channels.ts';
import type { ChannelLogin } from '../store/schema.ts';

// A channel's settings as given (through the API or the environment) turned into the channel igdm
// runs: the Graph API each login uses unless told otherwise, and its version.

const DEFAULT_GRAPH_API: Record<ChannelLogin, string> = {
  instagram: 'https://graph.instagram.com',
  facebook: 'https://graph.facebook.com',
};

/** What a channel's owner gives for a new channel (validated by the API's schema). */
export interface ChannelInput {
  id: string;
  name: string;
  login: ChannelLogin;
  accountId: string;
  pageId?: string | null;
  accessToken: string;
  appSecret: string;
  verifyToken: string;
  graphApiUrl?: string | null;
  /** The Meta app's id (debug_token). */
  appId?: string | null;
}

/** A change to a channel: the fields given; `null` clears pageId, and resets graphApiUrl to its login's. */
export type ChannelPatch = Partial<Omit<ChannelInput, 'id'>>;

/** The URL without trailing slashes, and its version: the one it ends with, else `version`. */
function graphApi(url: string, version: string): Pick<Channel, 'graphApiUrl' | 'graphApiVersion'> {
  const graphApiUrl = url.replace(/\/+$/, '');
  const given = /\/(v\d+\.\d+)$/.exec(graphApiUrl)?.[1];
  return { graphApiUrl, graphApiVersion: given ?? version };
}

/** A new channel. `version`: GRAPH_API_VERSION, for a Graph API URL that names none. */
export function newChannel(input: ChannelInput, version: string): Channel {
  return {
    id: input.id,
    name: input.name,
    kind: 'instagram',
    login: input.login,
    accountId: input.accountId,
    pageId: input.pageId ?? null,
    appSecret: input.appSecret,
    verifyToken: input.verifyToken,
    accessToken: input.accessToken,
    ...graphApi(input.graphApiUrl ?? DEFAULT_GRAPH_API[input.login], version),
    allowSha1: false,
    appId: input.appId ?? null,
  };
}

/** The channel with the patch applied. */
export function patchedChannel(c: Channel, patch: ChannelPatch, version: string): Channel {
  const login = patch.login ?? c.login;
  // A channel on its login's usual Graph API moves with its login; one given a URL keeps it.
  const onDefault = c.graphApiUrl === DEFAULT_GRAPH_API[c.login];
  const url =
    patch.graphApiUrl === null || (patch.graphApiUrl === undefined && onDefault)
      ? DEFAULT_GRAPH_API[login]
      : patch.graphApiUrl;
  return {
    ...c,
    login,
    ...(patch.name !== undefined && { name: patch.name }),
    ...(patch.accountId !== undefined && { accountId: patch.accountId }),
    ...(patch.pageId !== undefined && { pageId: patch.pageId }),
    ...(patch.accessToken !== undefined && { accessToken: patch.accessToken }),
    ...(patch.appSecret !== undefined && { appSecret: patch.appSecret }),
    ...(patch.verifyToken !== undefined && { verifyToken: patch.verifyToken }),
    ...(patch.appId !== undefined && { appId: patch.appId }),
    ...(url !== undefined && graphApi(url, url === c.graphApiUrl ? c.graphApiVersion : version)),
  };
}

/** The environment's `default` channel (or the sandbox's). */
export function environmentChannel(s: ChannelSettings): Channel {
  return {
    ...s,
    name: s.id,
    kind: 'instagram',
    login: /graph\.facebook\.com/.test(s.graphApiUrl) ? 'facebook' : 'instagram',
  };
}
