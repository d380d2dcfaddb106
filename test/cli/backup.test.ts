import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allConversations, allMessages } from '../support/conversations.ts';
import { runIgdm } from '../support/http.ts';
import { igBody, startTestService, type TestService, textEvent } from '../support/service.ts';

// `igdm backup FILE` copies the embedded store while igdm runs and takes webhooks; the copy is a
// store igdm starts on, with every conversation, owner-only, and a name already taken is refused.

let svc: TestService;
let out: string;
beforeAll(async () => {
  svc = await startTestService();
  out = mkdtempSync(join(tmpdir(), 'igdm-backup-'));
});
afterAll(async () => {
  await svc?.stop();
  rmSync(out, { recursive: true, force: true });
});

const customers = ['90010001', '90010002', '90010003'];

describe('igdm backup', () => {
  it('copies the running store, with what it holds, into a file igdm starts on', async () => {
    for (const [i, igsid] of customers.entries()) {
      expect((await svc.post(igBody([textEvent(igsid, `order ${i} please`)]))).status).toBe(200);
    }
    await svc.settled();
    const file = join(out, 'copy.sqlite');

    // Webhooks keep arriving during the copy: igdm does not stop for it.
    let posting = true;
    const during = (async () => {
      let n = 0;
      while (posting) {
        const res = await svc.post(igBody([textEvent('90010009', `during ${n++}`)]));
        expect(res.status).toBe(200);
      }
      return n;
    })();
    const run = await runIgdm(svc.dir, ['backup', file]);
    posting = false;
    expect(await during).toBeGreaterThan(0);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/backed the store up to .*copy\.sqlite .*conversations.*; checked/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(existsSync(`${file}.partial`)).toBe(false);
    // Its tokens need the key they were encrypted with: the key file goes with it, owner-only too.
    expect(run.stdout).toContain(`key file, copied to ${join(out, 'secret.key')}`);
    expect(statSync(join(out, 'secret.key')).mode & 0o777).toBe(0o600);

    // igdm starts on the copy (its key file beside it) and shows the conversations.
    const restoredDir = mkdtempSync(join(tmpdir(), 'igdm-restored-'));
    const restored = await startTestService({ DATABASE_URL: `sqlite:${file}` }, restoredDir);
    try {
      const conversations = await allConversations(restored);
      for (const igsid of customers) {
        const c = conversations.find((x) => x.igsid === igsid);
        expect(c, igsid).toBeDefined();
        const texts = (await allMessages(restored, c!.id)).map((m) => m.text);
        expect(texts).toEqual([`order ${customers.indexOf(igsid)} please`]);
      }
    } finally {
      await restored.stop();
      rmSync(restoredDir, { recursive: true, force: true });
    }
  });

  it('refuses a file that exists (unless --force), the store itself, and says how', async () => {
    const taken = join(out, 'taken.sqlite');
    writeFileSync(taken, 'keep me');
    const refused = await runIgdm(svc.dir, ['backup', taken]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--force');
    expect(statSync(taken).size).toBe('keep me'.length);

    const forced = await runIgdm(svc.dir, ['backup', taken, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(statSync(taken).size).toBeGreaterThan(4096);

    const itself = await runIgdm(svc.dir, ['backup', join(svc.dir, 'igdm.sqlite'), '--force']);
    expect(itself.code).toBe(2);
    expect(itself.stderr).toContain('cannot replace the store itself');

    const noFile = await runIgdm(svc.dir, ['backup']);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain('Usage: igdm backup FILE');
  });

  it('points a PostgreSQL store to its own tools', async () => {
    const run = await runIgdm(svc.dir, ['backup', join(out, 'x.sqlite')], {
      DATABASE_URL: 'postgres://127.0.0.1/test',
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('pg_dump');
  });
});
