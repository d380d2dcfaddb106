import { describe, expect, it } from 'vitest';
import type { Logger } from '../../src/log.ts';
import { backoffMs, type Job, RetryLater } from '../../src/queue/queue.ts';
import { queueContract } from './contract.ts';
import { closeAll, gate, job, queueStore, Recorder, runningRow, sleep, until } from './support.ts';

// The embedded queue on a real store (SQLite): the port's guarantees (contract.ts), then what is its
// own: one process has the store, so at its start it takes back every job left active, lease or not;
// its lease is only for a handler slower than it; and with no other process to hear from, it never
// polls.

// (Its afterEach closes what every test here opened.)
queueContract({ open: () => queueStore(), closeAll });

type P = { name: string };
const nameOf = (j: Job<unknown>) => (j.payload as P).name;

it('backoffMs doubles from 1 s up to 5 min, with jitter', () => {
  expect(backoffMs(1, () => 0.5)).toBe(1000);
  expect(backoffMs(2, () => 0.5)).toBe(2000);
  expect(backoffMs(4, () => 0.5)).toBe(8000);
  expect(backoffMs(30, () => 0.5)).toBe(300_000);
  expect(backoffMs(1, () => 0)).toBe(750);
  expect(backoffMs(1, () => 0.999_999)).toBe(1250);
});

describe('a process that dies', () => {
  it('a job left active by another process is run again, before the later jobs of its key', async () => {
    const first = await queueStore();
    const q1 = first.queue();
    const hang = gate();
    const ran: string[] = [];
    await q1.add([job('a', 1), job('a', 2), job('b', 1)]);
    q1.work('q', async (j) => {
      ran.push(`1:${nameOf(j)}#${j.attempts}`);
      if (nameOf(j) === 'a@1') await hang.opened; // this "process" dies here
    });
    await until(() => ran.includes('1:a@1#1') && ran.includes('1:b@1#1'), 'the first process took a@1');
    await until(async () => (await q1.counts()).done === 1, 'b@1 done');

    // A new process on the same store (its own connection): the active job is recovered.
    const second = await first.reopen();
    const q2 = second.queue();
    q2.work('q', async (j) => {
      ran.push(`2:${nameOf(j)}#${j.attempts}`);
    });
    await until(() => ran.includes('2:a@2#1'), 'the second process ran the key');
    expect(ran.filter((r) => r.startsWith('2:'))).toEqual(['2:a@1#2', '2:a@2#1']);
    hang.open();
  });

  it('an active row left by a killed process (as written in the store) is run again', async () => {
    const s = await queueStore();
    const now = Date.now();
    await s.store.db
      .insertInto('jobs')
      // Its lease has not even run out.
      .values(
        runningRow({ key: 'a', dedupKey: 'killed', name: 'a@1', attempts: 1, lockedUntil: now + 600_000 }),
      )
      .execute();
    const q = s.queue();
    await q.add([job('a', 2)]);
    const ran: string[] = [];
    q.work('q', async (j) => {
      ran.push(`${nameOf(j)}#${j.attempts}`);
    });
    await until(() => ran.length === 2, 'both ran');
    expect(ran).toEqual(['a@1#2', 'a@2#1']);
  });

  it('a handler slower than the lease is not run a second time (its lease is renewed)', async () => {
    const s = await queueStore();
    const warned: string[] = [];
    const log = {
      warn: (_: unknown, msg: string) => warned.push(msg),
      error() {},
      info() {},
    } as unknown as Logger;
    const q = s.queue({ leaseMs: 60, log });
    const rec = new Recorder();
    await q.add([job('a', 1), job('a', 2)]);
    q.work('q', async (j) => {
      rec.enter(j.key, nameOf(j));
      if (nameOf(j) === 'a@1') await sleep(400);
      rec.leave(j.key, nameOf(j));
    });
    await until(() => rec.finished.length === 2, 'both ran', 3000);
    await sleep(100);
    expect(rec.started).toEqual(['a@1', 'a@2']);
    expect(rec.overlaps.size).toBe(0);
    expect(warned).toContain('queue: jobs running longer than their lease');
  });
});

describe('no busy loop', () => {
  it('an idle queue does not touch the store', async () => {
    const s = await queueStore();
    const q = s.queue();
    q.work('q', async () => {});
    await q.add([job('a', 1)]);
    await until(async () => (await q.counts()).done === 1, 'done');
    await q.idle();
    const before = s.statements();
    await sleep(300);
    expect(s.statements() - before).toBe(0);
  });

  it('while a job waits for its retry and others wait behind it, the store is read only when it is due', async () => {
    const s = await queueStore();
    const q = s.queue();
    const ran: string[] = [];
    let later = true;
    await q.add([job('a', 1), job('a', 2), job('a', 3)]);
    q.work('q', async (j) => {
      ran.push(nameOf(j));
      if (later) {
        later = false;
        throw new RetryLater(400, 'wait');
      }
    });
    await until(() => ran.length === 1, 'first run');
    await q.idle();
    const before = s.statements();
    await sleep(250);
    expect(s.statements() - before).toBe(0); // asleep until the retry is due
    await until(() => ran.length === 4, 'then everything ran');
    expect(ran).toEqual(['a@1', 'a@1', 'a@2', 'a@3']);
  });

  it('while one long job holds its key, the queue does not poll', async () => {
    const s = await queueStore();
    const q = s.queue();
    const hold = gate();
    const ran: string[] = [];
    await q.add([job('a', 1), job('a', 2)]);
    q.work('q', async (j) => {
      ran.push(nameOf(j));
      if (nameOf(j) === 'a@1') await hold.opened;
    });
    await until(() => ran.length === 1, 'a@1 running');
    await sleep(20);
    const before = s.statements();
    await sleep(250);
    expect(s.statements() - before).toBe(0);
    hold.open();
    await until(() => ran.length === 2, 'a@2 ran');
  });

  it('a handler that keeps answering RetryLater(0) is not spun on', async () => {
    const s = await queueStore();
    const q = s.queue();
    let runs = 0;
    await q.add([job('a', 1)]);
    q.work('q', async () => {
      runs++;
      throw new RetryLater(0, 'again');
    });
    await sleep(200);
    expect(runs).toBeLessThanOrEqual(21); // at most every 10 ms
    expect(runs).toBeGreaterThan(1);
  });
});
