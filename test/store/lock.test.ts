import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreInUseError } from '../../src/store/lock.ts';
import { freePort, killSpawned, runIgdm, spawnIgdm } from '../support/http.ts';
import { startTestService } from '../support/service.ts';

// One process at a time per store: igdm as real processes on one store, and two services in this one.

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'igdm-lock-'));
  dirs.push(dir);
  return dir;
};

afterAll(async () => {
  await killSpawned();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** What a command says when the store is held by `igdm start` with this pid. */
const refusal = (dir: string, pid: number) =>
  new RegExp(
    `^igdm: the store ${join(dir, 'igdm.sqlite')} is in use by "igdm start" \\(pid ${pid} on host ${hostname()}, since [0-9T:.-]+Z\\): .*Stop that process first, or set DATABASE_URL to another store\\n$`,
  );

describe('a store in use', () => {
  it('a second igdm start, igdm replay and igdm migrate refuse it, naming the holder; once the holder is killed, it is free', async () => {
    const dir = tempDir();
    const first = await spawnIgdm(dir, await freePort());

    const second = await runIgdm(dir, ['start'], { PORT: String(await freePort()) });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(refusal(dir, first.child.pid!));
    for (const command of ['replay', 'migrate']) {
      const r = await runIgdm(dir, [command]);
      expect(r.code, command).toBe(1);
      expect(r.stderr, command).toMatch(refusal(dir, first.child.pid!));
      expect(r.stdout, command).toBe('');
    }

    // SIGKILL: the OS lets go of the lock.
    first.child.kill('SIGKILL');
    expect(await first.exited).toMatchObject({ signal: 'SIGKILL' });
    const third = await spawnIgdm(dir, await freePort());
    expect((await runIgdm(dir, ['migrate'])).stderr).toMatch(refusal(dir, third.child.pid!));

    // A clean stop lets go of it too.
    third.child.kill('SIGTERM');
    expect(await third.exited).toEqual({ code: 0, signal: null });
    const migrate = await runIgdm(dir, ['migrate']);
    expect(migrate).toMatchObject({ code: 0, stderr: '' });
    expect(migrate.stdout).toMatch(
      /^igdm: the store at .+ is up to date \(\d+ migrations\); nothing to apply\n$/,
    );
  }, 60_000); // seven igdm processes, one after another

  it('two services of one process: the second is refused until the first stops', async () => {
    const dir = tempDir();
    const first = await startTestService({}, dir);
    const refused = await startTestService({}, dir).then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(StoreInUseError);
    expect((refused as StoreInUseError).holder).toMatchObject({ pid: process.pid, host: hostname() });
    await first.stop();

    const second = await startTestService({}, dir);
    await second.stop();
  });
});
