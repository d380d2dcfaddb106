import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allConversations,
  type ConversationJson,
  conversationOf,
  deliver,
  editItem,
  newIgsid,
  type Page,
  unsendItem,
} from '../support/conversations.ts';
import { igBody, mid, startTestService, type TestService, textEvent } from '../support/service.ts';

// The inbox's view of conversations through the API: filters (thread owner, assignee, tag, unread,
// full-text search) with keyset pages, assignment, internal notes and the agents' read mark.

let svc: TestService;
const base = Date.now() - 2 * 3_600_000;
let minute = 0;
/** A time after every earlier one: each conversation's activity is distinct. */
const next = () => base + ++minute * 60_000;

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field
const json = async (path: string, method = 'GET', body?: unknown): Promise<{ status: number; body: any }> => {
  const res = await svc.api(path, {
    method,
    ...(body !== undefined && {
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
};

/** A new customer who wrote `texts` (one message each); their conversation. */
async function customer(...texts: string[]): Promise<ConversationJson> {
  const igsid = newIgsid();
  await deliver(svc, igBody(texts.map((t) => textEvent(igsid, t, { timestamp: next() }))));
  return (await conversationOf(svc, igsid))!;
}

/** Every conversation the query finds, walking its pages `limit` at a time. */
async function walk(query: string, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const q: string = `${query}&limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
    const r = await json(`/v1/conversations?${q}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const page = r.body as Page<ConversationJson>;
    expect(page.data.length).toBeLessThanOrEqual(limit);
    ids.push(...page.data.map((c) => c.id));
    cursor = page.nextCursor;
  } while (cursor !== null);
  return ids;
}

const patch = (id: string, change: object) => json(`/v1/conversations/${id}`, 'PATCH', change);

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.stop());

describe('full-text search (q)', () => {
  it('finds a word of a message, by prefix, whatever its case and accents', async () => {
    const lisbon = await customer('Do you ship to Lisbon?');
    const cafe = await customer('Is the Café open on Sundays?');
    expect((await walk('q=lisbon', 10)).filter((id) => id === lisbon.id)).toEqual([lisbon.id]);
    expect(await walk('q=LISB', 10)).toContain(lisbon.id);
    expect(await walk('q=cafe%20sunday', 10)).toEqual([cafe.id]);
    // All the words are needed.
    expect(await walk('q=lisbon%20sunday', 10)).toEqual([]);
  });

  it('no longer finds a message the customer deleted, and finds an edited one by its new text', async () => {
    const igsid = newIgsid();
    const gone = mid();
    const edited = mid();
    await deliver(
      svc,
      igBody([
        textEvent(igsid, 'my parcel never arrived', { mid: gone, timestamp: next() }),
        textEvent(igsid, 'helo there', { mid: edited, timestamp: next() }),
      ]),
    );
    const c = (await conversationOf(svc, igsid))!;
    expect(await walk('q=parcel', 10)).toEqual([c.id]);
    await deliver(
      svc,
      igBody([unsendItem(igsid, next(), gone), editItem(igsid, next(), edited, 'hello zanzibar')]),
    );
    expect(await walk('q=parcel', 10)).toEqual([]);
    expect(await walk('q=zanzibar', 10)).toEqual([c.id]);
    expect(await walk('q=helo', 10)).not.toContain(c.id);
  });

  it('finds a word in thousands of messages as it finds a rare one: the same conversations, newest first', async () => {
    // Past 2000 matching messages (2180 here) the list walks the conversations instead of the matches: both
    // ways must give the same rows, in the same order, page after page.
    const common = `mango${process.pid}`;
    const rare = `quince${process.pid}`;
    const igsids = Array.from({ length: 30 }, newIgsid);
    const writesCommon = (k: number) => k % 3 !== 0; // 20 of 30
    const writesRare = (k: number) => [1, 2, 3, 10].includes(k);
    const items: object[] = [];
    let at = next();
    for (let round = 0; round < 109; round++)
      for (const [k, igsid] of igsids.entries()) {
        const text = `${writesCommon(k) ? common : 'nothing'} ${round === 50 && writesRare(k) ? rare : ''}`;
        if (writesCommon(k) || round === 50 || round === 108)
          items.push(textEvent(igsid, text, { timestamp: at++ }));
      }
    minute += 1; // later conversations come after these
    for (let i = 0; i < items.length; i += 600) await deliver(svc, igBody(items.slice(i, i + 600)));
    const byIgsid = new Map((await allConversations(svc)).map((c) => [c.igsid, c.id]));
    // The last round went in order of k: the newest is the last customer.
    const newestFirst = (pick: (k: number) => boolean) =>
      igsids.flatMap((igsid, k) => (pick(k) ? [byIgsid.get(igsid)!] : [])).reverse();

    expect(await walk(`q=${common}`, 7)).toEqual(newestFirst(writesCommon));
    expect(await walk(`q=${rare}`, 2)).toEqual(newestFirst(writesRare));
    expect(await walk(`q=${common}%20${rare}`, 2)).toEqual(
      newestFirst((k) => writesCommon(k) && writesRare(k)),
    );
    const tagged = newestFirst(writesCommon).filter((_, i) => i % 4 === 0);
    for (const id of tagged) expect((await patch(id, { tags: [common] })).status).toBe(200);
    expect(await walk(`q=${common}&tag=${common}`, 2)).toEqual(tagged);
  });

  it("reads the search text as words, never as FTS5's query syntax", async () => {
    for (const q of ['"', 'NEAR(', 'text:x OR', '*', '-)(']) {
      const r = await json(`/v1/conversations?q=${encodeURIComponent(q)}`);
      expect(r.status, q).toBe(200);
    }
  });
});

describe('filters with pages', () => {
  it('thread owner, assignee, tag and search, alone and combined, walk the same rows page by page', async () => {
    const made: ConversationJson[] = [];
    for (let i = 0; i < 7; i++) made.push(await customer(`order number ${i} for the kiwi shop`));
    // Even ones: tagged kiwi; multiples of 3: assigned to ana; 1 and 4: handed to a human.
    for (const [i, c] of made.entries()) {
      if (i % 2 === 0) expect((await patch(c.id, { tags: ['kiwi'] })).status).toBe(200);
      if (i % 3 === 0) expect((await patch(c.id, { assignee: 'ana' })).status).toBe(200);
      if (i === 1 || i === 4)
        expect((await json(`/v1/conversations/${c.id}/handover`, 'POST', { to: 'human' })).status).toBe(200);
    }
    const newestFirst = (pick: (i: number) => boolean) =>
      made
        .map((c, i) => [c.id, i] as const)
        .filter(([, i]) => pick(i))
        .map(([id]) => id)
        .reverse();
    const mine = (ids: string[]) => ids.filter((id) => made.some((c) => c.id === id));

    expect(await walk('tag=kiwi', 2)).toEqual(newestFirst((i) => i % 2 === 0));
    expect(mine(await walk('assignee=ana', 1))).toEqual(newestFirst((i) => i % 3 === 0));
    expect(await walk('assignee=ana&tag=kiwi', 1)).toEqual(newestFirst((i) => i % 6 === 0));
    expect(mine(await walk('threadOwner=human', 1))).toEqual(newestFirst((i) => i === 1 || i === 4));
    expect(await walk('q=kiwi', 3)).toEqual(newestFirst(() => true));
    expect(await walk('q=kiwi&tag=kiwi&status=open&channelId=default', 1)).toEqual(
      newestFirst((i) => i % 2 === 0),
    );
    // An empty assignee: nobody is assigned.
    expect(mine(await walk('assignee=', 2))).toEqual(newestFirst((i) => i % 3 !== 0));
    expect(mine(await walk('threadOwner=bot&assignee=&q=kiwi', 2))).toEqual(
      newestFirst((i) => i % 3 !== 0 && i !== 1 && i !== 4),
    );
  });

  it('refuses filters it does not know the values of', async () => {
    for (const q of ['threadOwner=robot', 'unread=yes', 'q=', 'tag=']) {
      const r = await json(`/v1/conversations?${q}`);
      expect(r.status, q).toBe(400);
    }
  });
});

describe('assignee', () => {
  it('is set, shown and cleared', async () => {
    const c = await customer('hello');
    expect(c.assignee).toBeNull();
    expect(await patch(c.id, { assignee: '  Ana Lima ' })).toMatchObject({
      status: 200,
      body: { id: c.id, assignee: 'Ana Lima' },
    });
    expect((await json(`/v1/conversations/${c.id}`)).body.assignee).toBe('Ana Lima');
    expect(await walk('assignee=Ana%20Lima', 5)).toEqual([c.id]);
    expect((await patch(c.id, { assignee: null })).body.assignee).toBeNull();
    expect(await walk('assignee=Ana%20Lima', 5)).toEqual([]);
    expect((await patch(c.id, { assignee: '' })).status).toBe(400);
  });
});

describe('notes', () => {
  it('are added and listed in the order written, and counted on the conversation', async () => {
    const c = await customer('I want a refund');
    expect(c.notesCount).toBe(0);
    const first = await json(`/v1/conversations/${c.id}/notes`, 'POST', { text: 'Asked for a refund twice' });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      id: expect.stringMatching(/^note_/),
      conversationId: c.id,
      text: 'Asked for a refund twice',
      author: null,
    });
    expect(Date.parse(first.body.createdAt)).toBeGreaterThan(Date.now() - 60_000);
    await json(`/v1/conversations/${c.id}/notes`, 'POST', { text: 'VIP: refund approved' });
    const listed = await json(`/v1/conversations/${c.id}/notes`);
    expect(listed.body.data.map((n: { text: string }) => n.text)).toEqual([
      'Asked for a refund twice',
      'VIP: refund approved',
    ]);
    expect((await json(`/v1/conversations/${c.id}`)).body.notesCount).toBe(2);
    // A note is internal: nothing was sent, the thread has only the customer's message.
    const thread = await json(`/v1/conversations/${c.id}/messages`);
    expect(thread.body.data.map((m: { text: string }) => m.text)).not.toContain('VIP: refund approved');
  });

  it('refuses an empty note and an unknown conversation', async () => {
    const c = await customer('hi');
    expect((await json(`/v1/conversations/${c.id}/notes`, 'POST', { text: '  ' })).status).toBe(400);
    const missing = await json('/v1/conversations/cnv_nope/notes', 'POST', { text: 'x' });
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'conversation_not_found' } } });
    expect((await json('/v1/conversations/cnv_nope/notes')).status).toBe(404);
  });
});

describe('unread', () => {
  it('rises with inbound messages, is cleared by read, and filters the list', async () => {
    const igsid = newIgsid();
    await deliver(
      svc,
      igBody([
        textEvent(igsid, 'one', { timestamp: next() }),
        textEvent(igsid, 'two', { timestamp: next() }),
      ]),
    );
    const c = (await conversationOf(svc, igsid))!;
    expect(c.unread).toBe(2);
    expect(await walk('unread=true', 100)).toContain(c.id);
    expect(await walk('unread=false', 100)).not.toContain(c.id);

    const read = await json(`/v1/conversations/${c.id}/read`, 'POST');
    expect(read).toMatchObject({ status: 200, body: { id: c.id, unread: 0 } });
    expect(await walk('unread=false', 100)).toContain(c.id);
    expect(await walk('unread=true', 100)).not.toContain(c.id);

    await deliver(svc, igBody([textEvent(igsid, 'three', { timestamp: next() })]));
    expect((await json(`/v1/conversations/${c.id}`)).body.unread).toBe(1);
    expect(await walk('unread=true&q=three', 5)).toEqual([c.id]);
    // With a JSON body too, and for an unknown conversation 404.
    expect((await json(`/v1/conversations/${c.id}/read`, 'POST', {})).body.unread).toBe(0);
    expect((await json('/v1/conversations/cnv_nope/read', 'POST')).status).toBe(404);
  });

  it('does not count a message the customer deleted', async () => {
    const igsid = newIgsid();
    const m = mid();
    await deliver(svc, igBody([textEvent(igsid, 'oops', { mid: m, timestamp: next() })]));
    expect((await conversationOf(svc, igsid))!.unread).toBe(1);
    await deliver(svc, igBody([unsendItem(igsid, next(), m)]));
    expect((await conversationOf(svc, igsid))!.unread).toBe(0);
  });
});
