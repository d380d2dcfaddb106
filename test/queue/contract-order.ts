import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/queue/queue.ts';
import type { ContractQueue, QueueBackend } from './contract.ts';
import { gate, job, Recorder, sleep, until } from './support.ts';

// The queue port's order and concurrency (contract.ts): one key's jobs one at a time in orderAt
// order, keys in parallel up to the concurrency, and idempotent adds.

type P = { name: string };
const nameOf = (j: Job<unknown>) => (j.payload as P).name;

export function orderContract(backend: QueueBackend) {
  describe('order within a key', () => {
    it('runs one key by orderAt then id, however and whenever the jobs were added', async () => {
      const s = await backend.open();
      const q = s.queue();
      // Out of order, in separate add() calls, two at the same orderAt (then the first added first).
      await q.add([job('a', 30), job('b', 5, 'b@5')]);
      await q.add([job('a', 10, 'a@10-first')]);
      await q.add([job('a', 20), job('b', 1, 'b@1')]);
      await q.add([job('a', 10, 'a@10-second'), job('a', 0)]);
      const rec = new Recorder();
      q.work('q', async (j) => {
        rec.enter(j.key, nameOf(j));
        await sleep(2);
        rec.leave(j.key, nameOf(j));
      });
      await until(() => rec.finished.length === 7, 'all jobs ran');
      await q.idle();
      expect(rec.of('a')).toEqual(['a@0', 'a@10-first', 'a@10-second', 'a@20', 'a@30']);
      expect(rec.of('b')).toEqual(['b@1', 'b@5']);
      expect(rec.overlaps.size).toBe(0);
      expect(await q.counts()).toEqual({ ready: 0, active: 0, done: 7, dead: 0 });
    });

    it('an earlier job added while a later one of its key runs waits for it (never runs alongside)', async () => {
      const s = await backend.open();
      const q = s.queue();
      const rec = new Recorder();
      const hold = gate();
      q.work('q', async (j) => {
        rec.enter(j.key, nameOf(j));
        if (nameOf(j) === 'a@20') await hold.opened;
        rec.leave(j.key, nameOf(j));
      });
      await q.add([job('a', 20)]);
      await until(() => rec.started.includes('a@20'), 'a@20 started');
      await q.add([job('a', 10), job('b', 10)]);
      await until(() => rec.finished.includes('b@10'), 'the other key ran meanwhile');
      await sleep(30);
      expect(rec.started).not.toContain('a@10');
      hold.open();
      await until(() => rec.finished.length === 3, 'all ran');
      expect(rec.of('a')).toEqual(['a@20', 'a@10']);
      expect(rec.overlaps.size).toBe(0);
    });

    it('keeps order and concurrency under a random load (many keys, random delays, failures)', async () => {
      const s = await backend.open();
      const q = s.queue({ maxAttempts: 5, backoffMs: () => 5 });
      const rec = new Recorder();
      let seed = 42;
      const random = () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      const jobs = [];
      for (let k = 0; k < 20; k++)
        for (let n = 0; n < 10; n++) jobs.push(job(`k${k}`, 1000 + Math.floor(random() * 50), `k${k}@${n}`));
      // Shuffled, in several adds.
      jobs.sort(() => random() - 0.5);
      for (let i = 0; i < jobs.length; i += 37) await q.add(jobs.slice(i, i + 37));
      const expected = new Map<string, string[]>();
      const byKey = Object.groupBy(
        jobs.map((j, i) => ({ ...j, i })),
        (j) => j.key,
      );
      // The order the store gives them: orderAt, then insertion (id) order.
      for (const [key, list] of Object.entries(byKey))
        expected.set(
          key,
          list!.sort((x, y) => x.orderAt - y.orderAt || x.i - y.i).map((j) => (j.payload as P).name),
        );
      const failedOnce = new Set<string>();
      q.work(
        'q',
        async (j) => {
          rec.enter(j.key, nameOf(j));
          await sleep(Math.floor(random() * 4));
          rec.leave(j.key, nameOf(j));
          if (random() < 0.1 && !failedOnce.has(nameOf(j))) {
            failedOnce.add(nameOf(j));
            throw new Error('flaky');
          }
        },
        { concurrency: 4 },
      );
      await until(async () => (await q.counts()).done === 200, 'all 200 done', 15_000);
      expect(rec.maxRunning).toBe(4);
      expect(rec.overlaps.size).toBe(0);
      expect(failedOnce.size).toBeGreaterThan(0);
      for (const [key, names] of expected) {
        // A job that failed runs again before anything later of its key.
        const ran = rec.of(key).filter((n, i, all) => all[i - 1] !== n);
        expect(ran, key).toEqual(names);
      }
    });
  });

  /** Works queue 'q' with handlers that wait for `hold` to open, recorded in `rec`. */
  function heldWork(q: ContractQueue, concurrency: number) {
    const rec = new Recorder();
    const hold = gate();
    q.work(
      'q',
      async (j) => {
        rec.enter(j.key, nameOf(j));
        await hold.opened;
        rec.leave(j.key, nameOf(j));
      },
      { concurrency },
    );
    return { rec, hold };
  }

  describe('parallel keys', () => {
    it('runs different keys at the same time, up to the concurrency', async () => {
      const s = await backend.open();
      const q = s.queue();
      await q.add(['a', 'b', 'c', 'd', 'e', 'f'].map((k) => job(k, 1)));
      const { rec, hold } = heldWork(q, 3);
      await until(() => rec.running === 3, 'three handlers at once');
      await sleep(30);
      expect(rec.running).toBe(3); // no fourth while three run
      expect(await q.counts()).toMatchObject({ active: 3, ready: 3 });
      hold.open();
      await until(() => rec.finished.length === 6, 'all ran');
      expect(rec.maxRunning).toBe(3);
    });

    it('jobs woken while every slot is taken run once slots free up, with no other wake', async () => {
      // The round a wake starts claims nothing (no slot is free); what it was woken for must not be
      // forgotten: with every job of its own key, no finished job has a next of its key to claim.
      const s = await backend.open();
      const q = s.queue();
      const { rec, hold } = heldWork(q, 2);
      await q.add(['a', 'b'].map((k) => job(k, 1)));
      await until(() => rec.running === 2, 'both slots taken');
      await q.add(['c', 'd', 'e'].map((k) => job(k, 1))); // add() wakes the queue: no slot is free
      await sleep(30);
      hold.open();
      await until(() => rec.finished.length === 5, 'the jobs added meanwhile ran too', 2000);
    });

    it('a slow key does not hold the others back', async () => {
      const s = await backend.open();
      const q = s.queue();
      const hold = gate();
      const done: string[] = [];
      await q.add([job('slow', 1), job('slow', 2), ...Array.from({ length: 20 }, (_, i) => job(`k${i}`, 1))]);
      q.work(
        'q',
        async (j) => {
          if (nameOf(j) === 'slow@1') await hold.opened;
          done.push(nameOf(j));
        },
        { concurrency: 2 },
      );
      await until(() => done.length === 20, 'the other keys ran beside the slow one');
      expect(done).not.toContain('slow@2');
      hold.open();
      await until(() => done.length === 22, 'then the slow key');
      expect(done.slice(-2)).toEqual(['slow@1', 'slow@2']);
    });
  });

  describe('adding', () => {
    it('a dedupKey is added once, within one add, across adds and across restarts', async () => {
      const s = await backend.open();
      const q = s.queue();
      const once = { queue: 'q', key: 'a', orderAt: 1, dedupKey: 'engine:event-1', payload: { name: 'a@1' } };
      expect(await q.add([once, { ...once, payload: { name: 'copy' } }])).toBe(1);
      expect(await q.add([once])).toBe(0);
      const ran: string[] = [];
      q.work('q', async (j) => {
        ran.push(nameOf(j));
      });
      await until(async () => (await q.counts()).done === 1, 'done');
      expect(await q.add([once])).toBe(0); // done jobs still count
      await q.close();
      const again = s.queue();
      expect(await again.add([{ ...once, orderAt: 99 }])).toBe(0);
      again.work('q', async (j) => {
        ran.push(nameOf(j));
      });
      await sleep(30);
      await again.idle();
      expect(ran).toEqual(['a@1']);
      expect(await again.counts()).toEqual({ ready: 0, active: 0, done: 1, dead: 0 });
    });

    it('adds thousands of jobs in one call (beyond SQLite’s parameters per statement), all or nothing', async () => {
      const s = await backend.open();
      const q = s.queue();
      const many = Array.from({ length: 5000 }, (_, i) => job(`k${i % 50}`, i));
      expect(await q.add(many)).toBe(5000);
      expect(await q.add(many.slice(0, 10))).toBe(0);
      expect((await q.counts()).ready).toBe(5000);
    });
  });
}
