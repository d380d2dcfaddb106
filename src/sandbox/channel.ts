import { randomBytes } from 'node:crypto';
import type { ChannelSettings } from '../config.ts';

// The demo channel of sandbox mode: igdm without credentials talks to the sandbox's Graph API.

export const SANDBOX_ACCOUNT_ID = '17841400000000000';
/** The sandbox's app id (its debug_token answers for it). */
export const SANDBOX_APP_ID = '1234567890123456';

/** The sandbox channel, with fresh secrets each start, on the sandbox's Graph API at `base`. */
export function sandboxChannelSettings(base: string): ChannelSettings {
  const secret = () => randomBytes(24).toString('base64url');
  return {
    id: 'default',
    appSecret: secret(),
    verifyToken: secret(),
    accessToken: secret(),
    accountId: SANDBOX_ACCOUNT_ID,
    pageId: null,
    graphApiUrl: `${base}/sandbox/graph`,
    graphApiVersion: 'v24.0',
    allowSha1: false,
    appId: SANDBOX_APP_ID,
  };
}
