import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allConversations,
  allMessages,
  type ConversationJson,
  deliver,
  echoItem,
  getJson,
  iso,
  type MessageJson,
  newIgsid,
  type Page,
} from '../support/conversations.ts';
import { igBody, startTestService, type TestService, textEvent } from '../support/service.ts';

// The read API: authentication, list shape, ordering, cursor pagination and query validation.

let svc: TestService;
/** The conversations made below, newest activity first, with their last activity time. */
const made: { igsid: string; lastAt: number }[] = [];
let busy: ConversationJson;
const BUSY_MESSAGES = 13;

beforeAll(async () => {
  svc = await startTestService();
  const base = Date.now() - 60 * 60_000;
  const bodies: object[] = [];
  // Nine conversations; two share their last activity time, so the tie-break by id is exercised.
  const times = [1, 2, 3, 4, 5, 5, 6, 7, 8].map((i) => base + i * 60_000);
  for (const at of times) {
    const igsid = newIgsid();
    made.push({ igsid, lastAt: at });
    bodies.push(igBody([textEvent(igsid, `hello at ${at}`, { timestamp: at })]));
  }
  // One busy conversation: inbound and outbound messages, three of them at the same millisecond.
  const igsid = newIgsid();
  const items: object[] = [];
  let at = base + 9 * 60_000;
  for (let i = 0; i < BUSY_MESSAGES; i++) {
    if (i < 10 || i > 12) at += 1000;
    items.push(
      i % 3 === 2
        ? echoItem(igsid, at, { text: `reply ${i}` })
        : textEvent(igsid, `message ${i}`, { timestamp: at }),
    );
  }
  bodies.push(igBody(items));
  made.push({ igsid, lastAt: at });
  await deliver(svc, ...bodies);
  const all = await allConversations(svc);
  busy = all.find((c) => c.igsid === igsid)!;
});

afterAll(async () => {
  await svc?.stop();
});

describe('authentication', () => {
  const paths = ['/v1/conversations', '/v1/conversations/cnv_x', '/v1/conversations/cnv_x/messages'];

  it.each(paths)('%s without a key is 401 with a JSON reason', async (path) => {
    const res = await fetch(`${svc.url}${path}`);
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('unauthorized');
    expect(body.error.message).toMatch(/Authorization: Bearer/);
  });

  it.each([
    ['a wrong key', 'Bearer not-the-right-key-000000'],
    ['an empty key', 'Bearer '],
    ['another scheme', `Basic ${Buffer.from('user:pass').toString('base64')}`],
  ])('%s is 401 with a JSON reason', async (_name, authorization) => {
    const res = await fetch(`${svc.url}/v1/conversations`, { headers: { authorization } });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error).toMatchObject({ code: 'unauthorized', message: expect.any(String) });
    // The reason never echoes the key that was sent.
    expect(JSON.stringify(body)).not.toContain('not-the-right-key');
  });

  it('the right key is 200', async () => {
    expect((await svc.api('/v1/conversations')).status).toBe(200);
  });
});

describe('GET /v1/conversations', () => {
  it('answers { data: [...], nextCursor }', async () => {
    const page = await getJson<Page<ConversationJson>>(svc, '/v1/conversations');
    expect(Object.keys(page).sort()).toEqual(['data', 'nextCursor']);
    expect(page.data).toHaveLength(made.length);
    expect(page.nextCursor).toBeNull();
    for (const c of page.data) {
      expect(c).toMatchObject({
        id: expect.any(String),
        channelId: 'default',
        igsid: expect.any(String),
        status: 'open',
        // The busy conversation has replies typed in the Instagram app: a human took it over.
        threadOwner: c.igsid === busy.igsid ? 'human' : 'bot',
        lastInboundAt: expect.any(String),
        windowClosesAt: expect.any(String),
        windowOpen: true,
      });
    }
  });

  it('lists the newest activity first', async () => {
    const page = await getJson<Page<ConversationJson>>(svc, '/v1/conversations');
    const expected = [...made].sort((a, b) => b.lastAt - a.lastAt).map((m) => iso(m.lastAt));
    expect(page.data.map((c) => c.lastMessageAt)).toEqual(expected);
    expect(page.data[0]!.id).toBe(busy.id);
  });

  it('a new message moves its conversation to the top', async () => {
    const oldest = [...made].sort((a, b) => a.lastAt - b.lastAt)[0]!;
    const at = Date.now() - 1000;
    await deliver(svc, igBody([textEvent(oldest.igsid, 'back again', { timestamp: at })]));
    oldest.lastAt = at;
    const page = await getJson<Page<ConversationJson>>(svc, '/v1/conversations?limit=1');
    expect(page.data[0]).toMatchObject({
      igsid: oldest.igsid,
      lastMessageAt: iso(at),
      lastInboundAt: iso(at),
      // Its newest message, in brief: the list's preview needs no other request.
      lastMessage: {
        direction: 'inbound',
        type: 'text',
        text: 'back again',
        deletedAt: null,
        createdAt: iso(at),
      },
    });
    const [newest] = (
      await getJson<Page<{ id: string }>>(svc, `/v1/conversations/${page.data[0]!.id}/messages?limit=1`)
    ).data;
    expect((page.data[0] as unknown as { lastMessage: { id: string } }).lastMessage.id).toBe(newest!.id);
  });

  it.each([1, 2, 3, 4, 9, 200])(
    'limit=%i with the cursor walks every conversation exactly once',
    async (limit) => {
      const full = await getJson<Page<ConversationJson>>(svc, '/v1/conversations?limit=200');
      const walked: ConversationJson[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const q: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
        const page: Page<ConversationJson> = await getJson(svc, `/v1/conversations?limit=${limit}${q}`);
        expect(page.data.length).toBeLessThanOrEqual(limit);
        if (page.nextCursor !== null) expect(page.data).toHaveLength(limit);
        walked.push(...page.data);
        cursor = page.nextCursor;
        expect(++pages).toBeLessThanOrEqual(made.length + 1);
      } while (cursor !== null);
      expect(walked.map((c) => c.id)).toEqual(full.data.map((c) => c.id));
      expect(new Set(walked.map((c) => c.id)).size).toBe(made.length);
      expect(pages).toBe(Math.max(1, Math.ceil(made.length / limit)));
    },
  );

  it('filters by status and channel', async () => {
    const open = await getJson<Page<ConversationJson>>(svc, '/v1/conversations?status=open');
    expect(open.data).toHaveLength(made.length);
    const resolved = await getJson<Page<ConversationJson>>(svc, '/v1/conversations?status=resolved');
    expect(resolved.data).toEqual([]);
    const other = await getJson<Page<ConversationJson>>(svc, '/v1/conversations?channelId=nope');
    expect(other.data).toEqual([]);
  });
});

describe('GET /v1/conversations/:id', () => {
  it('answers the conversation', async () => {
    const one = await getJson<ConversationJson>(svc, `/v1/conversations/${busy.id}`);
    expect(one).toMatchObject({ id: busy.id, igsid: busy.igsid, channelId: 'default' });
  });

  it.each(['/v1/conversations/cnv_doesNotExist', '/v1/conversations/cnv_doesNotExist/messages'])(
    '%s is 404 with a JSON reason',
    async (path) => {
      const res = await svc.api(path);
      expect(res.status).toBe(404);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error).toEqual({
        code: 'conversation_not_found',
        message: expect.stringContaining('cnv_doesNotExist'),
      });
    },
  );
});

describe('GET /v1/conversations/:id/messages', () => {
  it('answers { data: [...], nextCursor }, newest first by default', async () => {
    const page = await getJson<Page<MessageJson>>(svc, `/v1/conversations/${busy.id}/messages`);
    expect(Object.keys(page).sort()).toEqual(['data', 'nextCursor']);
    expect(page.data).toHaveLength(BUSY_MESSAGES);
    expect(page.nextCursor).toBeNull();
    const times = page.data.map((m) => Date.parse(m.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(page.data.filter((m) => m.direction === 'outbound')).toHaveLength(4);
  });

  it.each([
    ['asc', 1],
    ['asc', 2],
    ['asc', 5],
    ['asc', 13],
    ['desc', 1],
    ['desc', 3],
    ['desc', 4],
    ['desc', 50],
  ] as const)('order=%s limit=%i with the cursor walks every message exactly once', async (order, limit) => {
    const full = await allMessages(svc, busy.id, { order, limit: 200 });
    expect(full).toHaveLength(BUSY_MESSAGES);
    const walked = await allMessages(svc, busy.id, { order, limit });
    expect(walked.map((m) => m.id)).toEqual(full.map((m) => m.id));
    expect(new Set(walked.map((m) => m.id)).size).toBe(BUSY_MESSAGES);
    const times = walked.map((m) => Date.parse(m.createdAt));
    expect(times).toEqual([...times].sort((a, b) => (order === 'asc' ? a - b : b - a)));
  });

  it('asc is the reverse of desc', async () => {
    const asc = await allMessages(svc, busy.id, { order: 'asc', limit: 3 });
    const desc = await allMessages(svc, busy.id, { order: 'desc', limit: 3 });
    expect(asc.map((m) => m.id)).toEqual(desc.map((m) => m.id).reverse());
  });
});

describe('bad queries', () => {
  const garbage = ['garbage', 'not a cursor!', Buffer.from('[1]').toString('base64url'), 'W10', '%00'];

  it.each([
    '/v1/conversations?limit=0',
    '/v1/conversations?limit=1000',
    '/v1/conversations?limit=-1',
    '/v1/conversations?limit=abc',
    '/v1/conversations?limit=1.5',
    '/v1/conversations?status=bogus',
    ...garbage.map((c) => `/v1/conversations?cursor=${encodeURIComponent(c)}`),
    'MSG?limit=0',
    'MSG?limit=1000',
    'MSG?order=sideways',
    ...garbage.map((c) => `MSG?cursor=${encodeURIComponent(c)}`),
  ])('%s is 400 with a JSON reason', async (path) => {
    const url = path.replace('MSG', `/v1/conversations/${busy.id}/messages`);
    const res = await svc.api(url);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toMatch(/^invalid_(query|cursor)$/);
    expect(body.error.message.length).toBeGreaterThan(0);
  });
});
