import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.ts';
import { conversationOf, deliver, getJson, newIgsid, type Page } from '../support/conversations.ts';
import { undoMigrationsFrom } from '../support/migrations.ts';
import { igBody, startTestService, type TestService, textEvent } from '../support/service.ts';

// Migration 0009 on a store an earlier version wrote: the messages already there become searchable,
// their conversations unassigned, without notes, and every inbound message unread.

const dir = mkdtempSync(join(tmpdir(), 'igdm-upgrade-'));
let svc: TestService | undefined;
afterAll(async () => {
  await svc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('indexes the messages stored before it, and counts them unread', async () => {
  svc = await startTestService({}, dir);
  const igsid = newIgsid();
  const at = Date.now() - 60_000;
  await deliver(
    svc,
    igBody([
      textEvent(igsid, 'Where is my umbrella order?', { timestamp: at }),
      textEvent(igsid, 'still waiting', { timestamp: at + 1 }),
    ]),
  );
  const databaseUrl = svc.config.databaseUrl;
  await svc.stop();

  // The store as 0008 left it: no search index, no assignee, read mark or notes.
  const store = await openStore(databaseUrl);
  try {
    await undoMigrationsFrom(store.db, '0012_inbox');
  } finally {
    await store.close();
  }

  svc = await startTestService({}, dir);
  const found = await getJson<Page<{ id: string; igsid: string }>>(svc, '/v1/conversations?q=umbrella');
  expect(found.data.map((c) => c.igsid)).toEqual([igsid]);
  expect(await conversationOf(svc, igsid)).toMatchObject({ assignee: null, notesCount: 0, unread: 2 });
});
