import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.ts';
import { getJson, type Page } from '../support/conversations.ts';
import { undoMigrationsFrom } from '../support/migrations.ts';
import { ACCOUNT_ID, startTestService, type TestService } from '../support/service.ts';

// Migration 0018 on a store an earlier version wrote: the comments already there are listed, as
// comments (their field was not kept), neither hidden nor deleted.

const dir = mkdtempSync(join(tmpdir(), 'igdm-upgrade-'));
let svc: TestService | undefined;
afterAll(async () => {
  await svc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('lists the comments stored before it', async () => {
  svc = await startTestService({}, dir);
  const value = { id: '17900000000000501', text: 'old comment', from: { id: '7400000501', username: 'old' } };
  const body = {
    object: 'instagram',
    entry: [{ id: ACCOUNT_ID, time: Math.floor(Date.now() / 1000), changes: [{ field: 'comments', value }] }],
  };
  expect((await svc.post(body)).status).toBe(200);
  await svc.settled();
  const databaseUrl = svc.config.databaseUrl;
  await svc.stop();

  const store = await openStore(databaseUrl);
  try {
    await undoMigrationsFrom(store.db, '0018_comments');
  } finally {
    await store.close();
  }

  svc = await startTestService({}, dir);
  const found = await getJson<Page<Record<string, unknown>>>(svc, '/v1/comments');
  expect(found.data).toEqual([
    expect.objectContaining({
      commentId: '17900000000000501',
      source: 'comments',
      text: 'old comment',
      from: { id: '7400000501', username: 'old' },
      hidden: false,
      deletedAt: null,
    }),
  ]);
});
