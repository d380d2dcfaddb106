import { describe, expect, it } from 'vitest';
import { type Job, RetryLater } from '../../src/queue/queue.ts';
import type { QueueBackend } from './contract.ts';
import { gate, job, Recorder, runningRow, sleep, until } from './support.ts';

// The queue port's failures (contract.ts): retries with backoff that nothing of their key
// overtakes, dead letters that release their key and can be retried, RetryLater, jobs of a process
// that stopped run again, closing, and retention.

type P = { name: string };
const nameOf = (j: Job<unknown>) => (j.payload as P).name;

export function failureContract(backend: QueueBackend) {
  describe('retries and dead letters', () => {
    it('a failing job is retried after its backoff, and nothing of its key overtakes it', async () => {
      const s = await backend.open();
      const q = s.queue({ backoffMs: () => 150 });
      const log: { name: string; attempt: number; at: number }[] = [];
      await q.add([job('a', 1), job('a', 2), job('b', 1)]);
      q.work('q', async (j) => {
        log.push({ name: nameOf(j), attempt: j.attempts, at: Date.now() });
        if (nameOf(j) === 'a@1' && j.attempts === 1) throw new Error('not this time');
      });
      await until(() => log.length === 4, 'all ran');
      expect(log.map((l) => `${l.name}#${l.attempt}`)).toEqual(['a@1#1', 'b@1#1', 'a@1#2', 'a@2#1']);
      const [first, , retry, next] = log;
      expect(retry!.at - first!.at).toBeGreaterThanOrEqual(140);
      expect(next!.at).toBeGreaterThanOrEqual(retry!.at);
      const a1 = (await q.list({ key: 'a', limit: 10 })).find((j) => (j.payload as P).name === 'a@1')!;
      expect(a1).toMatchObject({ status: 'done', attempts: 2, error: 'not this time' });
    });

    it("stats(): each queue's ready, active and dead jobs, and when its oldest due job fell due (GET /metrics)", async () => {
      const s = await backend.open();
      const q = s.queue({ maxAttempts: 1 });
      const before = Date.now();
      await q.add([job('a', 1), job('a', 2), job('b', 1), job('c', 1, 'c@1', 'other')]);
      const waiting = await q.stats(Date.now());
      const of = (queue: string) => waiting.find((x) => x.queue === queue);
      expect(of('q')?.counts).toEqual({ ready: 3, active: 0, dead: 0 });
      expect(of('other')?.counts).toEqual({ ready: 1, active: 0, dead: 0 });
      expect(of('q')!.oldestDueAt).toBeGreaterThanOrEqual(before - 1000);
      expect(of('q')!.oldestDueAt).toBeLessThanOrEqual(Date.now());

      const release = gate();
      q.work('q', async (j) => {
        if (nameOf(j) === 'b@1') throw new Error('for good');
        await release.opened;
      });
      await until(async () => {
        const q1 = (await q.stats(Date.now())).find((x) => x.queue === 'q');
        return q1?.counts.active === 1 && q1.counts.dead === 1;
      }, 'a@1 running, b@1 dead');
      release.open();
      await until(async () => (await q.counts()).done === 2, 'a done');
      const after = (await q.stats(Date.now())).find((x) => x.queue === 'q');
      expect(after?.counts ?? { ready: 0, active: 0, dead: 1 }).toEqual({ ready: 0, active: 0, dead: 1 });
    });

    it('after its last attempt a job is dead, with its error, listed, and retry() runs it again', async () => {
      const s = await backend.open();
      const q = s.queue({ maxAttempts: 3, backoffMs: () => 20 });
      let healthy = false;
      const calls: string[] = [];
      await q.add([job('a', 1), job('a', 2)]);
      q.work('q', async (j) => {
        calls.push(`${nameOf(j)}#${j.attempts}`);
        if (nameOf(j) === 'a@1' && !healthy) throw new Error(`boom ${j.attempts}`);
        return { ok: nameOf(j) };
      });
      await until(async () => (await q.list({ status: 'dead', limit: 10 })).length === 1, 'dead');
      await until(() => calls.includes('a@2#1'), 'the next job of the key ran after the dead one');
      expect(calls).toEqual(['a@1#1', 'a@1#2', 'a@1#3', 'a@2#1']);
      const [dead] = await q.list({ status: 'dead', limit: 10 });
      expect(dead).toMatchObject({ key: 'a', status: 'dead', attempts: 3, error: 'boom 3' });
      expect(dead!.finishedAt).not.toBeNull();
      expect(await q.get(dead!.id)).toEqual(dead);
      // a@2's handler has returned; its outcome is written with the queue's next round.
      await until(async () => (await q.counts()).done === 1, 'a@2 recorded done');
      expect(await q.counts()).toMatchObject({ dead: 1, done: 1 });

      healthy = true;
      expect(await q.retry(dead!.id)).toBe(true);
      await until(async () => (await q.get(dead!.id))!.status === 'done', 'retried and done');
      expect(await q.get(dead!.id)).toMatchObject({ status: 'done', attempts: 1, result: { ok: 'a@1' } });
      expect(calls.at(-1)).toBe('a@1#1');
      // Only dead jobs are retried.
      expect(await q.retry(dead!.id)).toBe(false);
      expect(await q.retry(999_999)).toBe(false);
      expect(await q.list({ status: 'dead', limit: 10 })).toEqual([]);
    });

    it('a retry that falls due while another job ends is claimed by that round (its timer is cleared)', async () => {
      const s = await backend.open();
      const q = s.queue({ backoffMs: () => 5 }); // due before the timer's 10 ms floor
      const ran: string[] = [];
      const failed = gate();
      await q.add([job('a', 1), job('b', 1)]);
      q.work(
        'q',
        async (j) => {
          ran.push(`${nameOf(j)}#${j.attempts}`);
          if (nameOf(j) === 'a@1' && j.attempts === 1) {
            failed.open();
            throw new Error('once');
          }
          if (nameOf(j) === 'b@1') {
            await failed.opened;
            await sleep(7); // ends after a@1's retry is due, before the queue's timer for it
          }
        },
        { concurrency: 2 },
      );
      await until(() => ran.includes('a@1#2'), 'the retry of a@1', 2000);
    });

    it('a retry runs when its row says, with a jittered backoff (one delay drawn per failure)', async () => {
      const s = await backend.open();
      // Each draw differs, as the default's jitter does: 600 ms first, then 50.
      let draws = 0;
      const q = s.queue({ backoffMs: () => (draws++ === 0 ? 600 : 50) });
      const ran: { name: string; at: number }[] = [];
      await q.add([job('a', 1)]);
      q.work('q', async (j) => {
        ran.push({ name: `${nameOf(j)}#${j.attempts}`, at: Date.now() });
        if (j.attempts === 1) throw new Error('once');
      });
      await until(() => ran.length === 1, 'the first attempt');
      await until(async () => (await q.list({ key: 'a', limit: 1 }))[0]!.status === 'ready', 'put off');
      const [row] = await q.list({ key: 'a', limit: 1 });
      await until(() => ran.length === 2, 'the retry', 3000);
      expect(ran.map((r) => r.name)).toEqual(['a@1#1', 'a@1#2']);
      // Not before its time, and not held back by a timer set for another draw.
      expect(ran[1]!.at).toBeGreaterThanOrEqual(row!.runAt - 5);
      expect(ran[1]!.at - row!.runAt).toBeLessThan(300);
    });

    it('RetryLater does not use an attempt, and keeps the later jobs of its key waiting', async () => {
      const s = await backend.open();
      const q = s.queue({ maxAttempts: 1 });
      const log: string[] = [];
      let laters = 0;
      await q.add([job('a', 1), job('a', 2), job('b', 1)]);
      const started = Date.now();
      q.work('q', async (j) => {
        log.push(`${nameOf(j)}#${j.attempts}`);
        if (nameOf(j) === 'a@1' && laters < 3) {
          laters++;
          throw new RetryLater(60, 'not yet');
        }
      });
      await until(() => log.length === 6, 'all ran');
      // With maxAttempts 1 a real failure would have been final; "later" three times is not.
      expect(log).toEqual(['a@1#1', 'b@1#1', 'a@1#1', 'a@1#1', 'a@1#1', 'a@2#1']);
      expect(Date.now() - started).toBeGreaterThanOrEqual(170);
      await q.idle(); // the last outcome written
      expect(await q.counts()).toEqual({ ready: 0, active: 0, done: 3, dead: 0 });
    });

    it('runNow() while jobs run: the wait their runs end with (RetryLater, a failure’s backoff) is cut short', async () => {
      const s = await backend.open();
      const q = s.queue({ backoffMs: () => 60_000 });
      const ran: string[] = [];
      const held = gate();
      await q.add([job('a', 1, 'later'), job('b', 1, 'failing')]);
      q.work('q', async (j) => {
        ran.push(nameOf(j));
        if (ran.filter((n) => n === nameOf(j)).length > 1) return;
        await held.opened;
        if (nameOf(j) === 'later') throw new RetryLater(60_000, 'a minute from now');
        throw new Error('failed once');
      });
      await until(() => ran.length === 2, 'both running');
      expect(await q.runNow('q')).toBe(0); // none was waiting yet
      held.open();
      await until(() => ran.length === 4, 'both run again at once, not in a minute');
      expect(ran.sort()).toEqual(['failing', 'failing', 'later', 'later']);
    });

    it('a runNow() that marked a run whose process then died does not cut the next run’s wait', async () => {
      const s = await backend.open();
      const now = Date.now();
      // Marked by a runNow() while its process ran it; the process died (its lease ran out).
      await s.db
        .insertInto('jobs')
        .values(
          runningRow({ key: 'a', dedupKey: 'taken-back', attempts: 1, lockedUntil: now - 1000, runAgain: 1 }),
        )
        .execute();
      const q = s.queue();
      const ran: string[] = [];
      q.work('q', async (j) => {
        ran.push(nameOf(j));
        throw new RetryLater(60_000, 'a minute from now');
      });
      await until(() => ran.length === 1, 'taken back and run');
      await q.idle(); // its outcome written
      const [row] = await q.list({ limit: 1 });
      expect(row).toMatchObject({ status: 'ready', error: 'a minute from now' });
      expect(row!.runAt - Date.now()).toBeGreaterThan(30_000);
      expect(ran).toEqual(['taken-back']);
    });

    it('a job put off runs at its time though a wake took its outcome and a round with nothing to do followed', async () => {
      const s = await backend.open();
      const q = s.queue();
      const ran: string[] = [];
      await q.add([job('a', 1)]);
      q.work('q', async (j) => {
        ran.push(nameOf(j));
        if (ran.length > 1) return;
        // A wake of the queue runs before the round this job's end asks for: that round writes the
        // outcome, and the one the end asked for then finds nothing to do.
        setImmediate(() => q.wake('q'));
        throw new RetryLater(100, 'not yet');
      });
      await until(() => ran.length === 2, 'the job ran again at its time', 3000);
    });

    it('a retry that falls due while the queue is still busy with the round is not forgotten', async () => {
      const s = await backend.open();
      // Every reading of the clock is 20 ms later: each round takes longer than the 5 ms backoff.
      let t = Date.UTC(2026, 0, 1);
      const q = s.queue({ now: () => (t += 20), backoffMs: () => 5 });
      const ran: string[] = [];
      await q.add([job('a', 1), job('a', 2)]);
      q.work('q', async (j) => {
        ran.push(`${nameOf(j)}#${j.attempts}`);
        if (j.attempts === 1 && nameOf(j) === 'a@1') throw new Error('once');
      });
      await until(() => ran.length === 3, 'the retry ran', 2000);
      expect(ran).toEqual(['a@1#1', 'a@1#2', 'a@2#1']);
    });
  });

  describe('a process that dies', () => {
    it('a retry put off by an earlier process runs when it is due, with nothing else to wake the queue', async () => {
      const first = await backend.open();
      const q1 = first.queue({ backoffMs: () => 300 });
      const ran: string[] = [];
      await q1.add([job('a', 1)]);
      q1.work('q', async (j) => {
        ran.push(`1:${nameOf(j)}#${j.attempts}`);
        throw new Error('later');
      });
      await until(
        async () => (await q1.list({ key: 'a', limit: 1 }))[0]?.attempts === 1,
        'the first attempt',
      );
      await q1.close();

      const second = await first.reopen();
      const q2 = second.queue();
      q2.work('q', async (j) => {
        ran.push(`2:${nameOf(j)}#${j.attempts}`);
      });
      await until(() => ran.includes('2:a@1#2'), 'the retry, in the second process');
      expect(ran).toEqual(['1:a@1#1', '2:a@1#2']);
    });

    it('a job whose process died on its last attempt is dead, not run at every start', async () => {
      const s = await backend.open();
      const now = Date.now();
      const row = (dedupKey: string, key: string, attempts: number) =>
        runningRow({ key, dedupKey, attempts, lockedUntil: now - 1000 }); // its lease ran out
      // maxAttempts is 3: the poison pill was on its third attempt, the other on its second.
      await s.db
        .insertInto('jobs')
        .values([row('poison', 'a', 3), row('second-try', 'b', 2)])
        .execute();
      const q = s.queue();
      await q.add([job('a', 2)]);
      const ran: string[] = [];
      q.work('q', async (j) => {
        ran.push(`${nameOf(j)}#${j.attempts}`);
      });
      await until(() => ran.length === 2, 'the others ran');
      await sleep(30);
      expect(ran.sort()).toEqual(['a@2#1', 'second-try#3']);
      const [dead] = await q.list({ status: 'dead', limit: 10 });
      expect(dead).toMatchObject({
        dedupKey: 'poison',
        attempts: 3,
        error: 'interrupted on its last attempt: the process running it stopped',
      });
      // It can still be run again by hand.
      expect(await q.retry(dead!.id)).toBe(true);
      await until(() => ran.includes('poison#1'), 'retried');
    });

    it('a queue that only adds jobs (no worker) leaves the running jobs of the store alone', async () => {
      const s = await backend.open();
      const worker = s.queue();
      const hold = gate();
      const runs: string[] = [];
      await worker.add([job('a', 1)]);
      worker.work('q', async (j) => {
        runs.push(nameOf(j));
        if (j.key === 'a') await hold.opened;
      });
      await until(() => runs.length === 1, 'running');
      const adder = (await s.reopen()).queue();
      await adder.add([job('b', 1)]);
      await sleep(30);
      expect(await worker.list({ key: 'a', limit: 1 })).toMatchObject([{ status: 'active', attempts: 1 }]);
      hold.open();
      // Jobs added elsewhere are claimed once the queue is woken (igdm's writers wake it).
      worker.wake();
      await until(async () => (await worker.counts()).done === 2, 'both done');
      expect(runs.sort()).toEqual(['a@1', 'b@1']);
    });

    it('a handler slower than the lease is not run a second time (its lease is renewed)', async () => {
      const s = await backend.open();
      const q = s.queue({ leaseMs: 60 });
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
    });
  });

  describe('closing and pruning', () => {
    it('close() waits for the running handlers, records their outcomes and claims nothing more', async () => {
      const s = await backend.open();
      const q = s.queue();
      const hold = gate();
      const ran: string[] = [];
      await q.add([job('a', 1), job('a', 2), job('b', 1)]);
      q.work('q', async (j) => {
        ran.push(nameOf(j));
        if (nameOf(j) === 'a@1') await hold.opened;
        return 'ok';
      });
      await until(() => ran.length === 2, 'a@1 and b@1 started');
      const closing = q.close();
      await sleep(20);
      hold.open();
      await closing;
      expect(ran.sort()).toEqual(['a@1', 'b@1']);
      const rows = await s.db.selectFrom('jobs').select(['dedupKey', 'status', 'result']).execute();
      expect(rows.map((r) => r.status).sort()).toEqual(['done', 'done', 'ready']);
    });

    it('close() tells the running handlers it is stopping: one that stops waiting runs again later', async () => {
      const s = await backend.open();
      const q = s.queue();
      let started = false;
      await q.add([job('a', 1)]);
      q.work('q', async (_j, stopping) => {
        started = true;
        // A wait on the network that only `stopping` ends (a download, a receiver).
        await new Promise((resolve) => stopping.addEventListener('abort', resolve, { once: true }));
        throw new RetryLater(0, 'stopping');
      });
      await until(() => started, 'a@1 started');
      await q.close();
      const [row] = await s.db.selectFrom('jobs').select(['status', 'attempts']).execute();
      expect(row).toMatchObject({ status: 'ready', attempts: 0 });
    });

    it('prune() deletes done jobs finished before a time; dead and unfinished ones stay', async () => {
      const s = await backend.open();
      let now = Date.UTC(2026, 0, 1);
      const q = s.queue({ now: () => now, maxAttempts: 1 });
      await q.add([job('a', 1), job('b', 1), job('c', 1)]);
      q.work('q', async (j) => {
        if (j.key === 'b') throw new Error('dead');
      });
      await until(async () => (await q.counts()).ready === 0, 'all ran');
      await q.idle();
      now += 10 * 86_400_000;
      await q.add([job('d', 1)]);
      await until(async () => (await q.counts()).done === 3, 'd done');
      expect(await q.prune(now - 86_400_000)).toBe(2); // a and c
      expect(await q.counts()).toEqual({ ready: 0, active: 0, done: 1, dead: 1 });
    });

    it('keepDoneMs prunes while the queue works', async () => {
      const s = await backend.open();
      let now = Date.UTC(2026, 0, 1);
      const q = s.queue({ now: () => now, keepDoneMs: 7 * 86_400_000 });
      q.work('q', async () => {});
      await q.add(Array.from({ length: 1500 }, (_, i) => job(`k${i}`, 1)));
      await until(async () => (await q.counts()).done === 1500, 'all done', 30_000);
      now += 8 * 86_400_000;
      await q.add([job('x', 1)]);
      await until(async () => (await q.counts()).done === 1, 'old jobs deleted');
    });
  });
}
