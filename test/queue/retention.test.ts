import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, expect, it } from 'vitest';
import { igBody, startTestService, type TestService, textEvent } from '../support/service.ts';

// Done engine jobs are history (GET /v1/jobs): they are deleted IGDM_JOB_RETENTION_DAYS (7) after
// they finished, so that the jobs table does not grow for ever; dead ones stay until retried.

const DAY = 86_400_000;
let dir: string;
let svc: TestService | undefined;

afterEach(async () => {
  await svc?.stop();
  svc = undefined;
  rmSync(dir, { recursive: true, force: true });
});

interface JobsPage {
  data: { id: number; status: string }[];
  counts: Record<string, number>;
}

/** Three customers' messages handled, then the jobs aged: one done 8 days ago, one dead, one today. */
async function agedStore(): Promise<{ old: number; dead: number; recent: number }> {
  dir = mkdtempSync(join(tmpdir(), 'igdm-retention-'));
  const first = await startTestService({}, dir);
  for (const igsid of ['7001', '7002', '7003']) {
    expect((await first.post(igBody([textEvent(igsid, 'hello')]))).status).toBe(200);
  }
  await first.settled();
  await first.stop();
  const db = new DatabaseSync(join(dir, 'igdm.sqlite'));
  const ids = (db.prepare('select id from jobs order by id').all() as { id: number }[]).map((r) => r.id);
  expect(ids).toHaveLength(3);
  const [old, dead, recent] = ids as [number, number, number];
  const longAgo = Date.now() - 8 * DAY;
  db.prepare('update jobs set finished_at = ? where id = ?').run(longAgo, old);
  db.prepare("update jobs set status = 'dead', finished_at = ? where id = ?").run(longAgo, dead);
  db.close();
  return { old, dead, recent };
}

async function jobIds(s: TestService): Promise<number[]> {
  const page = (await (await s.api('/v1/jobs?limit=100')).json()) as JobsPage;
  return page.data.map((j) => j.id).sort((a, b) => a - b);
}

it('done jobs older than 7 days are deleted; dead and recent ones stay', async () => {
  const { dead, recent } = await agedStore();
  svc = await startTestService({}, dir);
  await expect.poll(() => jobIds(svc!)).toEqual([dead, recent]);
});

it('IGDM_JOB_RETENTION_DAYS=0 keeps every job', async () => {
  const { old, dead, recent } = await agedStore();
  svc = await startTestService({ IGDM_JOB_RETENTION_DAYS: '0' }, dir);
  await svc.settled();
  expect(await jobIds(svc)).toEqual([old, dead, recent]);
});
