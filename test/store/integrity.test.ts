import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { damagePage, leavesOf } from '../support/damage.ts';
import { runIgdm, sleep } from '../support/http.ts';
import { igBody, startTestService, textEvent } from '../support/service.ts';

// A damaged store is refused at start with a message that names it and the fix, rather than
// starting, reporting ready, then answering 500.

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A stopped igdm's store holding enough messages to span several pages, one of them damaged. */
async function damagedStore(): Promise<{ dir: string; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'igdm-integrity-'));
  dirs.push(dir);
  const svc = await startTestService({}, dir);
  try {
    const items = Array.from({ length: 300 }, (_, i) => textEvent(`7400000${i}`, `message ${i} `.repeat(5)));
    expect((await svc.post(igBody(items))).status).toBe(200);
    await svc.settled();
  } finally {
    await svc.stop();
  }
  const file = join(dir, 'igdm.sqlite');
  const pages = leavesOf(file, 'messages');
  expect(pages.length).toBeGreaterThan(3);
  damagePage(file, pages[pages.length - 1]!);
  return { dir, file };
}

describe('a damaged store', () => {
  it('igdm start refuses it, naming the file, what is wrong and the fix', async () => {
    const { dir, file } = await damagedStore();
    const r = await runIgdm(dir, ['start']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^igdm: the store ${file} is damaged \\(PRAGMA quick_check: .+\\)\\. Stop igdm, then restore the store from a backup, or copy out what can be read: sqlite3 ${file} ".recover" \\| sqlite3 recovered.sqlite, and set DATABASE_URL=sqlite:recovered.sqlite\\n$`,
      ),
    );
  });

  it('a file that is not a database: igdm start refuses it with a message, not a stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'igdm-integrity-'));
    dirs.push(dir);
    const file = join(dir, 'igdm.sqlite');
    writeFileSync(file, 'name,text\nalice,hello\n'.repeat(500));
    const r = await runIgdm(dir, ['start']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `igdm: ${file} is not an SQLite database (file is not a database): set DATABASE_URL to the store igdm made, or restore that file from a backup\n`,
    );
  });

  it('found after the start (the check outlived its time budget): /readyz reports the store not ready', async () => {
    const { dir } = await damagedStore();
    const svc = await startTestService({}, dir, { integrityBudgetMs: 0 });
    try {
      type Readiness = { status: string; store: { ok: boolean; reason?: string } };
      let ready: { status: number; body: Readiness };
      for (;;) {
        const res = await fetch(`${svc.url}/readyz`);
        ready = { status: res.status, body: (await res.json()) as Readiness };
        if (!ready.body.store.ok) break;
        await sleep(20);
      }
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({
        status: 'not_ready',
        store: { ok: false, reason: expect.stringMatching(/^damaged: ./) },
      });
    } finally {
      await svc.stop();
    }
  });
});
