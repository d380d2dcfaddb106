import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { allConversations, allMessages } from '../support/conversations.ts';
import { sleep } from '../support/http.ts';
import { igBody, startTestService, type TestService, textEvent } from '../support/service.ts';

// A real full disk: the store on a small tmpfs, filled with a ballast file. Events acknowledged before
// the disk filled are applied once it has room again, with no new delivery; meanwhile /readyz says
// why igdm is not ready.

/** The tmpfs, or why there is none (mounting needs root). */
const mount = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'igdm-full-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dir], { stdio: 'pipe' });
    return { dir, error: null };
  } catch (err) {
    rmdirSync(dir);
    return { dir: null, error: (err as Error).message };
  }
})();

let svc: TestService | undefined;
afterAll(async () => {
  await svc?.stop();
  if (!mount.dir) return;
  execFileSync('umount', [mount.dir]);
  rmdirSync(mount.dir);
});

const freeBytes = (dir: string) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

interface Readiness {
  status: string;
  apply: { ok: boolean; reason?: string; since?: string };
  disk: { ok: boolean; freeBytes: number; reason?: string };
}

async function readiness(s: TestService): Promise<{ code: number; body: Readiness }> {
  const res = await fetch(`${s.url}/readyz`);
  return { code: res.status, body: (await res.json()) as Readiness };
}

/** Polls until `done` holds (at most 30 s: the pause between attempts grows to 5 s at most). */
async function until<T>(what: string, get: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const v = await get();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within 30 s; last: ${JSON.stringify(v)}`);
    await sleep(50);
  }
}

describe('a full disk', () => {
  const name = 'events stored before the disk filled are applied once it has room, with no new delivery';
  it.skipIf(mount.error !== null)(
    mount.error ? `${name} (skipped: mounting a tmpfs needs root: ${mount.error})` : name,
    async () => {
      const dir = mount.dir!;
      svc = await startTestService({ IGDM_MIN_FREE_DISK_MB: '1' }, dir);
      expect((await readiness(svc)).code).toBe(200);

      // The WAL emptied into the database, so that every write from now on needs new room.
      const db = new DatabaseSync(join(dir, 'igdm.sqlite'));
      expect(db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get()).toMatchObject({ busy: 0 });
      db.close();
      // Room for the events (under 128 KiB), not for applying them (over 2 MiB: contacts,
      // conversations, messages and jobs, in slices of up to 100 events).
      const ballast = join(dir, 'ballast');
      writeFileSync(ballast, Buffer.alloc(freeBytes(dir) - 512 * 1024));

      const customers = Array.from({ length: 200 }, (_, i) => `71000${String(i).padStart(6, '0')}`);
      const res = await svc.post(igBody(customers.map((c) => textEvent(c, `hello from ${c}`))));
      expect(res.status).toBe(200);

      const failing = await until(
        'readyz reports the failure',
        () => readiness(svc!),
        (r) => !r.body.apply.ok,
      );
      expect(failing.code).toBe(503);
      expect(failing.body.status).toBe('not_ready');
      expect(failing.body.apply.reason).toMatch(/cannot be applied.*database or disk is full/);
      expect(failing.body.disk).toMatchObject({
        ok: false,
        reason: expect.stringMatching(/IGDM_MIN_FREE_DISK_MB/),
      });
      expect(failing.body.disk.freeBytes).toBeLessThan(1024 * 1024);
      expect((await allConversations(svc)).length).toBeLessThan(customers.length);

      rmSync(ballast);
      const recovered = await until(
        'every conversation shows',
        () => allConversations(svc!),
        (c) => c.length === customers.length,
      );
      const one = recovered.find((c) => c.igsid === customers[0])!;
      expect((await allMessages(svc, one.id)).map((m) => m.text)).toEqual([`hello from ${customers[0]}`]);
      const ready = await until(
        'readyz is 200',
        () => readiness(svc!),
        (r) => r.code === 200,
      );
      expect(ready.body).toMatchObject({ status: 'ready', apply: { ok: true }, disk: { ok: true } });
    },
  );
});
