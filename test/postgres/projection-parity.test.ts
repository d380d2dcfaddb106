import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changesWebhook } from '../../src/sandbox/wire.ts';
import {
  echoItem,
  editItem,
  messageItem,
  postbackItem,
  reactionItem,
  readItem,
  referralItem,
  threadOf,
  unsendItem,
} from '../support/conversations.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/postgres.ts';
import { ACCOUNT_ID, igBody, mid, startTestService, type TestService } from '../support/service.ts';

// The projection on PostgreSQL (postgres-projector.ts) against SQLite's (projector.ts), both running
// the handlers of kinds.ts: the same webhooks, out of order and redelivered, delivered through HTTP
// to a service on each store, leave the same conversations, messages, comments and event log.

const postgres = await postgresAvailable();

describe.skipIf(!postgres)('the projection on PostgreSQL and on SQLite', () => {
  let database: TestDatabase;
  let dataDir: string;
  let onSqlite: TestService;
  let onPostgres: TestService;

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'igdm-pg-data-'));
    // No copies of media: what the keeper made of them would depend on when its job ran.
    const env = { IGDM_MEDIA_MAX_MB: '0' };
    onSqlite = await startTestService(env);
    onPostgres = await startTestService({ ...env, DATABASE_URL: database.url, IGDM_DATA_DIR: dataDir });
  });
  afterAll(async () => {
    await onSqlite?.stop();
    await onPostgres?.stop();
    await database?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** Each body to both services, in the same order; each must be acknowledged. */
  async function deliverBoth(bodies: object[]) {
    for (const svc of [onSqlite, onPostgres]) {
      for (const body of bodies) {
        const res = await svc.post(body);
        expect(res.status, await res.text()).toBe(200);
      }
      await svc.settled();
    }
  }

  /** What a service shows of a customer, without the times at which it applied things. */
  async function shown(svc: TestService, igsid: string) {
    const { conversation, messages } = await threadOf(svc, igsid);
    const { updatedAt: _, ...rest } = conversation;
    return { conversation: rest, messages };
  }

  /** The event log, without ids and the times it was written. */
  const eventLog = async (svc: TestService) =>
    (
      await svc.store.db
        .selectFrom('events')
        .select(['event', 'channelId', 'conversationId', 'data', 'dedupKey'])
        .execute()
    )
      .map((e) => ({ ...e, data: JSON.parse(e.data) }))
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

  it('every kind of conversation event, out of order and redelivered, ends the same', async () => {
    const igsid = '9100000000000001';
    const t = Date.UTC(2026, 5, 1, 9, 0, 0);
    const first = mid('first');
    const second = mid('second');
    const image = messageItem(igsid, t + 5000, {
      attachments: [{ type: 'image', payload: { url: 'http://127.0.0.1:9/a.png' } }],
    });
    const bodies = [
      // A reaction and an edit before the message they are about (early rows).
      igBody([reactionItem(igsid, t + 2000, first, 'react', 'love')]),
      igBody([editItem(igsid, t + 3000, first, 'hello, edited')]),
      igBody([referralItem(igsid, t)]),
      igBody([messageItem(igsid, t + 1000, { mid: first, text: 'hello' })]),
      igBody([messageItem(igsid, t + 4000, { mid: second, text: 'to be unsent' }), image]),
      igBody([unsendItem(igsid, t + 4500, second)]),
      igBody([echoItem(igsid, t + 6000, { text: 'typed in the Instagram app' })]),
      igBody([readItem(igsid, t + 7000, first)]),
      igBody([postbackItem(igsid, t + 8000, 'Get started', 'GET_STARTED')]),
      igBody([reactionItem(igsid, t + 9000, first, 'unreact')]),
    ];
    // Everything delivered again, in another order: nothing changes.
    await deliverBoth([...bodies, ...[...bodies].reverse()]);
    const onBoth = await Promise.all([shown(onSqlite, igsid), shown(onPostgres, igsid)]);
    expect(onBoth[1]).toEqual(onBoth[0]);
    // And they are what the events say (not the same emptiness).
    expect(onBoth[1].messages.map((m) => [m.direction, m.type, m.text, m.deletedAt !== null])).toEqual([
      ['inbound', 'text', 'hello, edited', false],
      ['inbound', 'text', 'to be unsent', true],
      ['inbound', 'image', null, false],
      ['outbound', 'text', 'typed in the Instagram app', false],
      ['inbound', 'postback', 'Get started', false],
    ]);
    expect(onBoth[1].conversation.source).toMatchObject({ ref: 'summer-sale' });
  });

  it('comments, and the event log of everything, are the same', async () => {
    const t = Date.UTC(2026, 5, 2, 9, 0, 0);
    const comment = changesWebhook(ACCOUNT_ID, t, 'comments', {
      id: '17900000000000101',
      text: 'Nice post',
      from: { id: '9100000000000002', username: 'commenter' },
      media: { id: '17900000000000100', media_product_type: 'FEED' },
    });
    await deliverBoth([comment, comment]);
    const comments = await Promise.all(
      [onSqlite, onPostgres].map(async (svc) => {
        const r = await svc.api('/v1/comments');
        expect(r.status).toBe(200);
        return ((await r.json()) as { data: unknown[] }).data;
      }),
    );
    expect(comments[1]).toEqual(comments[0]);
    expect(comments[1]).toEqual([
      expect.objectContaining({ commentId: '17900000000000101', text: 'Nice post' }),
    ]);
    const logs = await Promise.all([eventLog(onSqlite), eventLog(onPostgres)]);
    expect(logs[1]).toEqual(logs[0]);
    expect(logs[1].map((e) => e.event)).toContain('comment.received');
  });
});
