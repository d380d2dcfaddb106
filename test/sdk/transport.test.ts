import { Igdm, IgdmError } from '@igdm/sdk';
import { describe, expect, it } from 'vitest';

// What the client sends and how it reads answers that are not igdm's: with a fetch of the test's
// own, as a caller behind a proxy would give it.

function client(answer: () => Response | Promise<Response>, baseUrl = 'http://igdm.test/') {
  const seen: { url: string; init: RequestInit }[] = [];
  const igdm = new Igdm({
    baseUrl,
    apiKey: 'igdm_secret',
    fetch: async (url, init) => {
      seen.push({ url, init });
      return answer();
    },
  });
  return { igdm, seen };
}

describe('the client', () => {
  it('sends the key as a bearer token, JSON bodies, and ids as path segments', async () => {
    const { igdm, seen } = client(() => Response.json({ id: 'cnv_1' }));
    await igdm.conversations.update('cnv_a/b?c', { tags: ['vip'] });
    const [{ url, init }] = seen as [(typeof seen)[0]];
    expect(url).toBe('http://igdm.test/v1/conversations/cnv_a%2Fb%3Fc');
    expect(init.method).toBe('PATCH');
    expect(init.headers).toMatchObject({
      authorization: 'Bearer igdm_secret',
      'content-type': 'application/json',
    });
    expect(JSON.parse(String(init.body))).toEqual({ tags: ['vip'] });
  });

  it('leaves out of the query string the options not given', async () => {
    const { igdm, seen } = client(() => Response.json({ data: [], nextCursor: null }));
    await igdm.conversations.list({ status: 'open', cursor: undefined });
    expect(seen[0]!.url).toBe('http://igdm.test/v1/conversations?status=open');
  });

  it("throws an IgdmError with the HTTP status for an answer that is not igdm's (a proxy's page)", async () => {
    const { igdm } = client(() => new Response('<html>Bad gateway</html>', { status: 502 }));
    const err = await igdm.channels.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IgdmError);
    expect(err).toMatchObject({ status: 502, code: 'http_502' });
  });

  it('lets a request that got no answer fail with the network error', async () => {
    const { igdm } = client(() => Promise.reject(new TypeError('fetch failed')));
    await expect(igdm.channels.list()).rejects.toThrow('fetch failed');
  });

  it('needs a base URL and a key', () => {
    expect(() => new Igdm({ baseUrl: '', apiKey: 'k' })).toThrow(TypeError);
    expect(() => new Igdm({ baseUrl: 'http://igdm.test', apiKey: '' })).toThrow(TypeError);
  });
});
