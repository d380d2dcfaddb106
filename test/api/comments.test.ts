import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_ACCOUNT_ID } from '../../src/sandbox/channel.ts';
import { customerActs } from '../../src/sandbox/inbound.ts';
import { changesWebhook } from '../../src/sandbox/wire.ts';
import { Clock, delivered, type SandboxService, START, startSandboxService } from '../send/support.ts';

// Comments through the HTTP API, with the real store and queue and the sandbox as Meta: the
// comments, live_comments and mentions fields applied (in both of Meta's shapes, redelivery
// changing nothing), listed and filtered, answered publicly, hidden, deleted and privately replied to.

const clock = new Clock();
let svc: SandboxService;
let n = 0;

beforeAll(async () => {
  clock.set(START);
  svc = await startSandboxService({ clock });
});
afterAll(async () => {
  await svc?.stop();
});

interface Commented {
  commentId: string;
  igsid: string;
  username: string;
  webhook: unknown;
}

/** A simulated customer comments now (the webhook kept, to deliver again); resolves once applied. */
async function comment(c: Record<string, unknown>, from = `commenter ${++n}`): Promise<Commented> {
  const r = await customerActs(svc.sandbox!, { from, comment: c });
  expect(r.delivered.status).toBe(200);
  await svc.settled();
  return r as Commented;
}

/** Meta delivers the same webhook again. */
async function redeliver(webhook: unknown) {
  const d = await svc.sandbox!.delivery.deliver('customer', webhook as Record<string, unknown>);
  expect(d.status).toBe(200);
  await svc.settled();
}

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
const list = async (query = ''): Promise<any[]> => {
  const r = await svc.json(`/v1/comments${query}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.data;
};
const byMetaId = async (commentId: string) => (await svc.json(`/v1/comments/${commentId}`)).body;

describe('comments applied', () => {
  it('a comment with its id as "id": media, author and text, listed and found by either id', async () => {
    clock.advance(1000);
    const c = await comment({ text: 'Love this!', mediaId: '17900000000000001' });
    const got = await byMetaId(c.commentId);
    expect(got).toMatchObject({
      commentId: c.commentId,
      channelId: 'default',
      source: 'comments',
      mediaId: '17900000000000001',
      mediaProductType: 'FEED',
      parentId: null,
      from: { id: c.igsid, username: c.username },
      text: 'Love this!',
      hidden: false,
      deletedAt: null,
      createdAt: new Date(Math.floor(clock.now() / 1000) * 1000).toISOString(),
    });
    expect(got.id).toMatch(/^cmt_/);
    expect((await svc.json(`/v1/comments/${got.id}`)).body).toEqual(got);
    expect((await list()).map((x) => x.commentId)).toContain(c.commentId);
  });

  it('the id as "comment_id", a reply with parent_id, and a live comment', async () => {
    clock.advance(1000);
    const top = await comment({ text: 'First', mediaId: '17900000000000002', idAs: 'comment_id' });
    expect(JSON.stringify(top.webhook)).toContain('"comment_id"');
    const reply = await comment({ text: 'Second', mediaId: '17900000000000002', parentId: top.commentId });
    const live = await comment({ text: 'Hi from the live', live: true });
    expect(await byMetaId(top.commentId)).toMatchObject({ text: 'First', source: 'comments' });
    expect(await byMetaId(reply.commentId)).toMatchObject({ parentId: top.commentId, text: 'Second' });
    expect(await byMetaId(live.commentId)).toMatchObject({
      source: 'live_comments',
      mediaProductType: 'LIVE',
      text: 'Hi from the live',
    });
  });

  it('a mention of the account in a comment (field mentions)', async () => {
    const webhook = changesWebhook(SANDBOX_ACCOUNT_ID, clock.now(), 'mentions', {
      media_id: '17900000000000009',
      comment_id: '17900000000000010',
    });
    await redeliver(webhook);
    expect(await byMetaId('17900000000000010')).toMatchObject({
      source: 'mentions',
      mediaId: '17900000000000009',
      from: null,
    });
  });

  it('a redelivered comment changes nothing (one row, the same view, one comment.received)', async () => {
    const c = await comment({ text: 'Twice?' });
    const before = await byMetaId(c.commentId);
    const count = (await list('?limit=200')).length;
    await redeliver(c.webhook);
    // Meta's retry with another entry time is a new delivery of the same comment.
    const again = structuredClone(c.webhook) as { entry: { time: number }[] };
    again.entry[0]!.time += 60;
    await redeliver(again);
    expect(await byMetaId(c.commentId)).toEqual(before);
    expect(await list('?limit=200')).toHaveLength(count);
    // The event stream's log (GET /v1/events replays it from there).
    const logged = await svc.store.db
      .selectFrom('events')
      .select(['event', 'data'])
      .where('event', '=', 'comment.received')
      .execute();
    const mine = logged.filter((e) => JSON.parse(e.data).commentId === c.commentId);
    expect(mine).toHaveLength(1);
    expect(JSON.parse(mine[0]!.data)).toMatchObject({ text: 'Twice?', from: { igsid: c.igsid } });
  });
});

describe('GET /v1/comments filters', () => {
  it('by media, by author (authorId or from), by channel, a page at a time', async () => {
    clock.advance(1000);
    const a = await comment({ text: 'one', mediaId: '17911111111111111' }, 'filter author');
    clock.advance(1000);
    const b = await comment({ text: 'two', mediaId: '17911111111111111' }, 'filter author');
    const other = await comment({ text: 'three', mediaId: '17922222222222222' });
    const ids = (xs: { commentId: string }[]) => xs.map((x) => x.commentId);
    expect(ids(await list('?mediaId=17911111111111111'))).toEqual([b.commentId, a.commentId]);
    expect(ids(await list(`?authorId=${a.igsid}`))).toEqual([b.commentId, a.commentId]);
    expect(ids(await list(`?from=${a.igsid}`))).toEqual([b.commentId, a.commentId]);
    expect(ids(await list(`?from=${other.igsid}`))).toEqual([other.commentId]);
    expect(await list('?channelId=nope')).toEqual([]);
    const first = await svc.json(`/v1/comments?authorId=${a.igsid}&limit=1`);
    expect(ids(first.body.data)).toEqual([b.commentId]);
    const second = await svc.json(`/v1/comments?authorId=${a.igsid}&limit=1&cursor=${first.body.nextCursor}`);
    expect(ids(second.body.data)).toEqual([a.commentId]);
    expect(second.body.nextCursor).toBeNull();
    expect((await svc.json('/v1/comments?cursor=nonsense')).status).toBe(400);
    expect((await svc.json('/v1/comments/17999999999999999')).status).toBe(404);
  });
});

describe('answering, hiding and deleting through the Graph API', () => {
  it('a public reply reaches Meta and is listed under the comment', async () => {
    const c = await comment({ text: 'Price?', mediaId: '17933333333333333' });
    clock.advance(1000);
    const r = await svc.json(`/v1/comments/${c.commentId}/replies`, { body: { text: 'DM sent!' } });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body).toMatchObject({
      source: 'reply',
      parentId: c.commentId,
      mediaId: '17933333333333333',
      text: 'DM sent!',
      from: { id: SANDBOX_ACCOUNT_ID },
    });
    expect(svc.sandbox!.comments.get(r.body.commentId)).toMatchObject({
      text: 'DM sent!',
      parentId: c.commentId,
    });
    expect((await list('?mediaId=17933333333333333')).map((x) => x.commentId)).toEqual([
      r.body.commentId,
      c.commentId,
    ]);
    const empty = await svc.json(`/v1/comments/${c.commentId}/replies`, { body: { text: '  ' } });
    expect(empty.status).toBe(400);
  });

  it('hide and unhide, then delete: Meta is told, and the comment says so', async () => {
    const c = await comment({ text: 'spam spam' });
    // No body: hide.
    const hide = await svc.json(`/v1/comments/${c.commentId}/hide`, { method: 'POST' });
    expect(hide.status, JSON.stringify(hide.body)).toBe(200);
    expect(hide.body.hidden).toBe(true);
    expect(svc.sandbox!.comments.get(c.commentId)!.hidden).toBe(true);
    const show = await svc.json(`/v1/comments/${c.commentId}/hide`, { body: { hidden: false } });
    expect(show.body.hidden).toBe(false);
    expect(svc.sandbox!.comments.get(c.commentId)!.hidden).toBe(false);

    const del = await svc.json(`/v1/comments/${c.commentId}`, { method: 'DELETE' });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    expect(del.body.deletedAt).toBe(new Date(clock.now()).toISOString());
    expect(svc.sandbox!.comments.get(c.commentId)!.deleted).toBe(true);
    const calls = svc.sandbox!.calls.list().filter((x) => x.path.includes(c.commentId));
    expect(calls.map((x) => `${x.method} ${x.status}`)).toEqual(['POST 200', 'POST 200', 'DELETE 200']);
    // Deleted: the same answer again, and no reply to it.
    expect((await svc.json(`/v1/comments/${c.commentId}`, { method: 'DELETE' })).body).toEqual(del.body);
    const late = await svc.json(`/v1/comments/${c.commentId}/replies`, { body: { text: 'hello?' } });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('comment_deleted');
  });

  it("Meta's refusal is a 502 with its reason, and igdm's record is unchanged", async () => {
    const c = await comment({ text: 'keep me' });
    // Meta no longer has the comment (deleted in the Instagram app).
    svc.sandbox!.comments.get(c.commentId)!.deleted = true;
    const r = await svc.json(`/v1/comments/${c.commentId}/hide`, { body: {} });
    expect(r.status).toBe(502);
    expect(r.body.error.message).toMatch(/^Meta refused/);
    expect((await byMetaId(c.commentId)).hidden).toBe(false);
  });
});

describe('private replies to comments and live comments', () => {
  it('one each; the second is refused with private_reply_used', async () => {
    for (const live of [false, true]) {
      const c = await comment({ text: 'Info please', live });
      const r = await svc.send({ commentId: c.commentId, content: { type: 'text', text: 'Sent!' } });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      await svc.waitMessage(r.body.id, (m) => m.status === 'sent');
      const again = await svc.send({ commentId: c.commentId, content: { type: 'text', text: 'Again' } });
      expect(again.status).toBe(422);
      expect(again.body.error.code).toBe('private_reply_used');
      const sent = delivered(await svc.outbox()).filter((e) => JSON.stringify(e.body).includes(c.commentId));
      expect(sent).toHaveLength(1);
    }
  });
});
