import { describe, expect, it } from 'vitest';
import { setThroughApi, withEnvironment } from '../../src/channels/env-channel.ts';
import type { Channel } from '../../src/store/channels.ts';

// The environment's `default` channel and what the API set over it, field by field, across starts.

const ENV: Channel = {
  id: 'default',
  name: 'default',
  kind: 'instagram',
  login: 'instagram',
  accountId: '17841400000000001',
  pageId: null,
  appSecret: 'env-secret',
  verifyToken: 'env-verify',
  accessToken: 'env-token',
  graphApiUrl: 'https://graph.instagram.com',
  graphApiVersion: 'v24.0',
  allowSha1: false,
  appId: null,
};

/** A PATCH through the API on the stored channel, then a start with `env`. */
function restartAfter(patch: Partial<Channel>, env: Channel) {
  const first = withEnvironment(ENV, undefined);
  const patched = { ...first.channel, ...patch };
  const apiFields = setThroughApi(first.channel, patched, first.apiFields);
  return withEnvironment(env, { channel: patched, apiFields });
}

describe('the environment channel', () => {
  it('keeps the fields the API set while the environment says the same', () => {
    const { channel, apiFields } = restartAfter({ accessToken: 'api-token', name: 'Main shop' }, ENV);
    expect(channel).toMatchObject({ accessToken: 'api-token', name: 'Main shop', appSecret: 'env-secret' });
    expect(Object.keys(apiFields).sort()).toEqual(['accessToken', 'name']);
  });

  it("takes the environment's value of a field whose environment value changed, and only that one", () => {
    const { channel, apiFields } = restartAfter(
      { accessToken: 'api-token', name: 'Main shop' },
      { ...ENV, accessToken: 'new-env-token' },
    );
    expect(channel).toMatchObject({ accessToken: 'new-env-token', name: 'Main shop' });
    expect(Object.keys(apiFields)).toEqual(['name']);
  });

  it('a field set twice through the API remembers the environment value of the first time', () => {
    const first = withEnvironment(ENV, undefined);
    const once = { ...first.channel, accessToken: 'api-1' };
    const twice = { ...once, accessToken: 'api-2' };
    const apiFields = setThroughApi(once, twice, setThroughApi(first.channel, once, first.apiFields));
    expect(apiFields.accessToken).toEqual({ env: 'env-token' });
    expect(withEnvironment(ENV, { channel: twice, apiFields }).channel.accessToken).toBe('api-2');
  });
});
