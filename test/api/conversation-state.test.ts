import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { igBody, startTestService, type TestService, textEvent } from '../support/service.ts';

// Conversation state through the API: who owns the thread (bot or human), status, tags, and the
// windows a reply has.

let svc: TestService;
let id: string;
const at = Date.UTC(2026, 10, 20, 9, 0, 0);

beforeAll(async () => {
  svc = await startTestService();
  expect((await svc.post(igBody([textEvent('7001', 'hello', { timestamp: at })]))).status).toBe(200);
  await svc.settled();
  const list = (await (await svc.api('/v1/conversations')).json()) as { data: { id: string }[] };
  id = list.data[0]!.id;
});
afterAll(() => svc.stop());

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field
const json = async (path: string, method = 'GET', body?: unknown): Promise<{ status: number; body: any }> => {
  const res = await svc.api(path, {
    method,
    ...(body !== undefined && {
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    }),
  });
  return { status: res.status, body: await res.json() };
};

describe('conversation state', () => {
  it('starts open, owned by the bot, untagged, with both windows from the last inbound message', async () => {
    const c = (await json(`/v1/conversations/${id}`)).body;
    expect(c).toMatchObject({
      status: 'open',
      threadOwner: 'bot',
      intent: 'general', // "hello", classified offline
      tags: [],
      lastInboundAt: new Date(at).toISOString(),
      windowClosesAt: new Date(at + 24 * 3_600_000).toISOString(),
      humanWindowClosesAt: new Date(at + 7 * 24 * 3_600_000).toISOString(),
    });
  });

  it('hands the conversation to a human and back', async () => {
    const toHuman = await json(`/v1/conversations/${id}/handover`, 'POST', { to: 'human' });
    expect(toHuman).toMatchObject({ status: 200, body: { id, threadOwner: 'human' } });
    expect((await json(`/v1/conversations/${id}`)).body.threadOwner).toBe('human');
    const toBot = await json(`/v1/conversations/${id}/handover`, 'POST', { to: 'bot' });
    expect(toBot.body.threadOwner).toBe('bot');
  });

  it('sets the status and the tags (deduplicated)', async () => {
    const r = await json(`/v1/conversations/${id}`, 'PATCH', {
      status: 'resolved',
      tags: ['vip', 'order', 'vip'],
    });
    expect(r).toMatchObject({ status: 200, body: { status: 'resolved', tags: ['vip', 'order'] } });
    const listed = (await json('/v1/conversations?status=resolved')).body.data.map(
      (c: { id: string }) => c.id,
    );
    expect(listed).toContain(id);
  });

  it('refuses bad changes with a reason, and unknown conversations with 404', async () => {
    expect((await json(`/v1/conversations/${id}/handover`, 'POST', { to: 'robot' })).status).toBe(400);
    expect((await json(`/v1/conversations/${id}`, 'PATCH', {})).status).toBe(400);
    expect((await json(`/v1/conversations/${id}`, 'PATCH', { status: 'closed' })).status).toBe(400);
    const missing = await json('/v1/conversations/cnv_nope/handover', 'POST', { to: 'human' });
    expect(missing).toMatchObject({ status: 404, body: { error: { code: 'conversation_not_found' } } });
    expect((await json('/v1/conversations/cnv_nope', 'PATCH', { status: 'open' })).status).toBe(404);
  });
});
