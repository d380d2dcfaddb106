import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxService, startSandboxService, until } from '../send/support.ts';

// The contacts API against the sandbox: customers write, igdm asks Meta (the sandbox's Graph API) for
// their profile, and GET /v1/contacts lists them newest first; one contact shows its conversations.

let svc: SandboxService;
const names = ['Ana Lima', 'Bruno Costa', 'Carla Dias', 'Davi Souza', 'Eva Rocha'];
const igsids: string[] = [];

beforeAll(async () => {
  svc = await startSandboxService();
  for (const name of names) igsids.push((await svc.customer({ from: name, text: `hi, I am ${name}` })).igsid);
});
afterAll(() => svc.stop());

/** Every contact the query finds, walking its pages `limit` at a time. */
async function walk(query: string, limit: number) {
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field
  const all: any[] = [];
  let cursor: string | null = null;
  do {
    const r = await svc.json(
      `/v1/contacts?${query}&limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`,
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    all.push(...r.body.data);
    cursor = r.body.nextCursor;
  } while (cursor !== null);
  return all;
}

describe('GET /v1/contacts', () => {
  it('lists every customer once, newest first, page by page, with the profile Meta gave', async () => {
    const listed = await until(
      () => walk('channelId=default', 2),
      (all) => all.every((c) => c.name !== null),
      'profiles fetched',
    );
    expect(listed.map((c) => c.igsid)).toEqual([...igsids].reverse());
    expect(listed.map((c) => c.name)).toEqual([...names].reverse());
    expect(listed[0]).toMatchObject({
      id: expect.stringMatching(/^ct_/),
      channelId: 'default',
      username: expect.any(String),
      profileCheckedAt: expect.any(String),
    });
  });

  it('finds a contact by a part of the name or username, in any case', async () => {
    expect((await walk('q=carla', 10)).map((c) => c.name)).toEqual(['Carla Dias']);
    expect((await walk('q=OUZA', 10)).map((c) => c.name)).toEqual(['Davi Souza']);
    expect(await walk('q=%25', 10)).toEqual([]);
  });

  it('refuses a cursor it did not make', async () => {
    expect((await svc.json('/v1/contacts?cursor=nope')).status).toBe(400);
  });
});

describe('GET /v1/contacts/:id', () => {
  it('shows the profile and the conversations', async () => {
    const [ana] = await walk('q=ana%20lima', 10);
    const r = await svc.json(`/v1/contacts/${ana.id}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: ana.id, name: 'Ana Lima', igsid: igsids[0] });
    expect(r.body.conversations).toEqual([
      expect.objectContaining({
        igsid: igsids[0],
        contact: expect.objectContaining({ id: ana.id, name: 'Ana Lima' }),
      }),
    ]);
  });

  it('answers 404 for a contact it does not have', async () => {
    expect(await svc.json('/v1/contacts/ct_nope')).toMatchObject({
      status: 404,
      body: { error: { code: 'contact_not_found' } },
    });
  });
});
