import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { deliver } from '../support/conversations.ts';
import { igBody, startTestService, textEvent } from '../support/service.ts';

// The store holds every DM: its folder and files are the owner's only.

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

/** The modes of the store's folder and files, while igdm runs on it (WAL and shared memory exist). */
function modes(data: string) {
  const files = ['igdm.sqlite', 'igdm.sqlite-wal', 'igdm.sqlite-shm', 'igdm.sqlite.lock', 'secret.key'];
  return { folder: modeOf(data), ...Object.fromEntries(files.map((f) => [f, modeOf(join(data, f))])) };
}

const OWNER_ONLY = {
  'igdm.sqlite': '600',
  'igdm.sqlite-wal': '600',
  'igdm.sqlite-shm': '600',
  'igdm.sqlite.lock': '600',
  'secret.key': '600',
};

describe('the store on disk', () => {
  it('a folder igdm makes is 0700, and the database, its WAL, shared memory, lock and key are 0600', async () => {
    const root = mkdtempSync(join(tmpdir(), 'igdm-files-'));
    dirs.push(root);
    const data = join(root, 'data');
    const svc = await startTestService({ DATABASE_URL: `sqlite:${join(data, 'igdm.sqlite')}` }, root);
    try {
      await deliver(svc, igBody([textEvent('7300000001', 'hello')]));
      expect(modes(data)).toEqual({ folder: '700', ...OWNER_ONLY });
    } finally {
      await svc.stop();
    }
  });

  it('a store made readable by others (earlier versions) becomes 0600; a folder the user chose keeps its mode', async () => {
    const data = mkdtempSync(join(tmpdir(), 'igdm-files-'));
    dirs.push(data);
    const first = await startTestService({}, data);
    await deliver(first, igBody([textEvent('7300000002', 'hello')]));
    await first.stop();
    chmodSync(data, 0o755);
    // A connection of its own keeps the WAL and shared-memory files (as a crash leaves them).
    const other = new DatabaseSync(join(data, 'igdm.sqlite'));
    other.prepare('select count(*) from settings').get();
    for (const f of ['igdm.sqlite', 'igdm.sqlite-wal', 'igdm.sqlite-shm', 'igdm.sqlite.lock'])
      chmodSync(join(data, f), 0o644);

    const svc = await startTestService({}, data);
    other.close();
    try {
      await deliver(svc, igBody([textEvent('7300000002', 'again')]));
      expect(modes(data)).toEqual({ folder: '755', ...OWNER_ONLY });
    } finally {
      await svc.stop();
    }
  });
});
