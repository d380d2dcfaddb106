import { CamelCasePlugin, Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresQueue } from '../../src/queue/postgres.ts';
import { claim, settleAndClaim, WAKE_CHANNEL } from '../../src/queue/postgres-statements.ts';
import { WakeListener } from '../../src/queue/postgres-wakes.ts';
import { type Job, RetryLater } from '../../src/queue/queue.ts';
import type { Database } from '../../src/store/schema.ts';
import { queueContract } from './contract.ts';
import { freshDatabase, postgresBackend, postgresReachable } from './postgres-support.ts';
import { gate, job, Recorder, runningRow, sleep, until } from './support.ts';

// The queue on PostgreSQL (src/queue/postgres.ts): the port's guarantees (contract.ts), then what
// several processes on one database add: two workers never run two jobs of one key at once and keep
// its order, a failed job awaiting its retry holds its key back whichever worker looks, a killed
// worker's job is taken over once its lease runs out, wake-ups cross processes through NOTIFY and
// survive a lost connection, and a run taken over cannot write its outcome over the new run's.

type P = { name: string };
const nameOf = (j: Job<unknown>) => (j.payload as P).name;

const reachable = await postgresReachable();
let database: Awaited<ReturnType<typeof freshDatabase>> | undefined;
const backend = postgresBackend(() => database!.url);

describe.skipIf(!reachable)('the queue on PostgreSQL', () => {
  beforeAll(async () => {
    database = await freshDatabase('queue');
  });
  afterAll(async () => {
    await backend.closeAll();
    await database?.drop();
  });

  queueContract(backend);

  describe('workers in several processes', () => {
    it('two workers never run two jobs of one key at once, and keep each key’s order', async () => {
      const one = await backend.open();
      const two = await one.reopen();
      const rec = new Recorder();
      const ranBy = { one: 0, two: 0 };
      let seed = 7;
      const random = () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      const jobs = [];
      for (let k = 0; k < 12; k++) for (let n = 0; n < 8; n++) jobs.push(job(`k${k}`, 100 + n, `k${k}@${n}`));
      jobs.sort(() => random() - 0.5);
      const adder = one.queue();
      for (let i = 0; i < jobs.length; i += 16) await adder.add(jobs.slice(i, i + 16));
      const failedOnce = new Set<string>();
      const handler = (who: 'one' | 'two') => async (j: Job) => {
        rec.enter(j.key, nameOf(j));
        ranBy[who]++;
        await sleep(Math.floor(random() * 5));
        rec.leave(j.key, nameOf(j));
        if (random() < 0.1 && !failedOnce.has(nameOf(j))) {
          failedOnce.add(nameOf(j));
          throw new Error('flaky');
        }
      };
      one.queue({ backoffMs: () => 20 }).work('q', handler('one'), { concurrency: 3 });
      two.queue({ backoffMs: () => 20 }).work('q', handler('two'), { concurrency: 3 });
      await until(async () => (await adder.counts()).done === jobs.length, 'all done', 20_000);
      expect(rec.overlaps.size).toBe(0);
      expect(ranBy.one).toBeGreaterThan(0);
      expect(ranBy.two).toBeGreaterThan(0);
      expect(failedOnce.size).toBeGreaterThan(0);
      for (let k = 0; k < 12; k++) {
        // A job that failed runs again before anything later of its key.
        const ran = rec.of(`k${k}`).filter((n, i, all) => all[i - 1] !== n);
        expect(ran, `k${k}`).toEqual(Array.from({ length: 8 }, (_, n) => `k${k}@${n}`));
      }
    });

    it('a failed job awaiting its retry holds its key back, whichever worker looks', async () => {
      const one = await backend.open();
      const two = await one.reopen();
      const ran: string[] = [];
      const handler = async (j: Job) => {
        ran.push(`${nameOf(j)}#${j.attempts}`);
        if (nameOf(j) === 'a@1' && j.attempts === 1) throw new Error('not this time');
      };
      const q1 = one.queue({ backoffMs: () => 400 });
      await q1.add([job('a', 1), job('a', 2), job('b', 1)]);
      q1.work('q', handler, { concurrency: 1 });
      await until(() => ran.includes('a@1#1'), 'a@1 failed once');
      // The other worker polls every 50 ms through the whole backoff.
      two.queue().work('q', handler);
      await until(() => ran.length === 4, 'all ran');
      expect(ran.filter((r) => r.startsWith('a@'))).toEqual(['a@1#1', 'a@1#2', 'a@2#1']);
    });

    it('a killed worker’s job is taken over by another once its lease runs out, before the rest of its key', async () => {
      const doomed = await backend.open();
      const hang = gate();
      const ran: string[] = [];
      const q1 = doomed.queue({ leaseMs: 600, listen: undefined });
      await q1.add([job('a', 1), job('a', 2)]);
      q1.work('q', async (j) => {
        ran.push(`doomed:${nameOf(j)}#${j.attempts}`);
        await hang.opened; // killed here: it never finishes
      });
      await until(() => ran.length === 1, 'the doomed worker took a@1');
      // Its connections die with it: no renewal, no outcome.
      await doomed.pool.end();
      const survivor = await doomed.reopen();
      survivor.queue({ leaseMs: 600 }).work('q', async (j) => {
        ran.push(`survivor:${nameOf(j)}#${j.attempts}`);
      });
      await until(() => ran.length === 3, 'the survivor ran the key');
      expect(ran).toEqual(['doomed:a@1#1', 'survivor:a@1#2', 'survivor:a@2#1']);
      hang.open();
    });

    it('a key being claimed elsewhere is not claimed, even for an earlier job added meanwhile', async () => {
      // Row locks alone would let this through: the later job, claimed but not committed, still
      // reads as ready to the second claim, and the earlier job added meanwhile is its key's head.
      const one = await backend.open();
      const two = await one.reopen();
      const adder = one.queue();
      await adder.add([job('a', 20)]);
      const args = { wanted: [{ queue: 'q', limit: 5 }], leaseMs: 60_000 };
      const claimed = async (db: Parameters<typeof claim>[0]) =>
        ((await claim(db, { ...args, now: Date.now() })).get('q') ?? []).map(nameOf);
      const firstClaimed = gate();
      const commit = gate();
      const first = one.db.transaction().execute(async (trx) => {
        const jobs = await claimed(trx);
        firstClaimed.open();
        await commit.opened;
        return jobs;
      });
      await firstClaimed.opened;
      await adder.add([job('a', 10)]);
      const meanwhile = await two.db.transaction().execute(claimed);
      commit.open();
      expect(await first).toEqual(['a@20']);
      expect(meanwhile).toEqual([]);
      // Committed: the key has a job running.
      expect(await two.db.transaction().execute(claimed)).toEqual([]);
    });

    it('one claim takes jobs in several queues, each up to its own limit and its keys’ heads only', async () => {
      const s = await backend.open();
      await s
        .queue()
        .add([
          job('a', 1, 'a@1', 'q1'),
          job('a', 2, 'a@2', 'q1'),
          job('b', 3, 'b@3', 'q1'),
          job('c', 4, 'c@4', 'q1'),
          job('a', 5, 'r:a@5', 'q2'),
          job('d', 6, 'r:d@6', 'q2'),
        ]);
      const found = await claim(s.db, {
        wanted: [
          { queue: 'q1', limit: 2 },
          { queue: 'q2', limit: 5 },
          { queue: 'q3', limit: 5 },
        ],
        now: Date.now(),
        leaseMs: 60_000,
      });
      // a@2 waits behind a@1; c@4 is past q1's limit; the key 'a' of q2 is another queue's.
      expect(found.get('q1')?.map(nameOf)).toEqual(['a@1', 'b@3']);
      expect(found.get('q2')?.map(nameOf)).toEqual(['r:a@5', 'r:d@6']);
      expect(found.has('q3')).toBe(false);
      const active = await s.db.selectFrom('jobs').select('queue').where('status', '=', 'active').execute();
      expect(active).toHaveLength(4);
    });

    it('a round’s outcomes and claims are one statement: a queue where a job ended is claimed only if the next of its key waits', async () => {
      const s = await backend.open();
      await s
        .queue()
        .add([
          job('a', 1, 'a@1', 'q1'),
          job('a', 2, 'a@2', 'q1'),
          job('b', 3, 'b@3', 'q2'),
          job('c', 4, 'c@4', 'q3'),
        ]);
      const leaseMs = 60_000;
      const first = await claim(s.db, {
        wanted: [
          { queue: 'q1', limit: 5 },
          { queue: 'q2', limit: 5 },
        ],
        now: Date.now(),
        leaseMs,
      });
      const a1 = first.get('q1')![0]!;
      const b3 = first.get('q2')![0]!;
      // Added without a wake-up for this round: q2 is asked only for the next of b's key.
      await s.queue().add([job('d', 5, 'd@5', 'q2')]);
      const round = await settleAndClaim(s.db, {
        done: [
          { id: a1.id, attempts: a1.attempts, result: '"ok"' },
          { id: b3.id, attempts: b3.attempts, result: null },
          { id: b3.id, attempts: b3.attempts + 1, result: null }, // a run taken over: not its own
        ],
        wanted: [
          { queue: 'q1', limit: 5, ifWaiting: true },
          { queue: 'q2', limit: 5, ifWaiting: true },
          { queue: 'q3', limit: 5, ifWaiting: false }, // woken
        ],
        now: Date.now(),
        leaseMs,
      });
      expect([...round.kept].sort((x, y) => x - y)).toEqual([a1.id, b3.id].sort((x, y) => x - y));
      expect(round.claimed.get('q1')?.map(nameOf)).toEqual(['a@2']);
      expect(round.claimed.has('q2')).toBe(false);
      expect(round.claimed.get('q3')?.map(nameOf)).toEqual(['c@4']);
      const rows = await s.db.selectFrom('jobs').select(['status', 'result']).orderBy('orderAt').execute();
      expect(rows).toEqual([
        { status: 'done', result: '"ok"' },
        { status: 'active', result: null },
        { status: 'done', result: null },
        { status: 'active', result: null },
        { status: 'ready', result: null },
      ]);
    });

    it('claims that keep failing do not keep the outcomes of a round from being written', async () => {
      const s = await backend.open();
      // Every claim in `broken` fails, as a fault in the claims would, which a round of one
      // statement shares with the outcomes it writes.
      try {
        await s.db.transaction().execute(async (trx) => {
          await sql`alter function igdm_claim(text, bigint, integer, bigint) rename to igdm_claim_real`.execute(
            trx,
          );
          await sql`create function igdm_claim(p_queue text, p_now bigint, p_limit integer, p_lease bigint)
            returns setof jobs language plpgsql volatile as $$
            begin
              if p_queue = 'broken' then raise exception 'the claims of broken fail'; end if;
              return query select * from igdm_claim_real(p_queue, p_now, p_limit, p_lease);
            end $$`.execute(trx);
        });
        const q = s.queue();
        const hold = gate();
        let started = false;
        q.work('q', async () => {
          started = true;
          await hold.opened;
        });
        await q.add([job('a', 1)]);
        await until(() => started, 'running');
        q.work('broken', async () => {});
        hold.open();
        await until(async () => (await q.counts()).done === 1, 'the outcome written', 10_000);
      } finally {
        // The function as it was, in one statement (whatever got as far as it did).
        await sql`do $$ begin
          if to_regprocedure('igdm_claim_real(text, bigint, integer, bigint)') is not null then
            drop function if exists igdm_claim(text, bigint, integer, bigint);
            alter function igdm_claim_real(text, bigint, integer, bigint) rename to igdm_claim;
          end if;
        end $$`.execute(s.db);
      }
    });

    it('a run taken over meanwhile does not write its outcome over the new run’s', async () => {
      const s = await backend.open();
      const hold = gate();
      const q = s.queue();
      await q.add([job('a', 1)]);
      let started = false;
      q.work('q', async () => {
        started = true;
        await hold.opened;
        return 'stale';
      });
      await until(() => started, 'running');
      // What a take-back and a claim by another process leave: the job active in a new run.
      await s.db
        .updateTable('jobs')
        .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
        .execute();
      hold.open();
      await q.idle();
      const [row] = await q.list({ limit: 1 });
      expect(row).toMatchObject({ status: 'active', attempts: 2, result: null });
    });
  });

  describe('runNow()', () => {
    it('a runNow() that looks while a job’s wait is being written still ends that wait', async () => {
      // The order that lost a token PATCH's wake-up under load (test/api/events.test.ts): the handler
      // ends with RetryLater, its outcome is decided (a long wait), and runNow() comes before that
      // outcome's UPDATE reaches the row: runNow finds the job still active and changes nothing.
      let beforeSettle: (() => Promise<void>) | null = null;
      // A pool of its own whose every connection sends the outcome's UPDATE only once the hook ran.
      const pool = new pg.Pool({ connectionString: database!.url, max: 4 });
      pool.on('error', () => {});
      pool.on('connect', (client) => {
        const query = client.query.bind(client) as (text: unknown, values?: unknown) => Promise<unknown>;
        client.query = (async (text: unknown, values?: unknown) => {
          const hook = beforeSettle;
          const settle =
            typeof text === 'string' &&
            /^update "jobs" set "status" = \$1/.test(text) &&
            Array.isArray(values) &&
            values[0] === 'ready';
          if (hook && settle) {
            beforeSettle = null;
            await hook();
          }
          return query(text, values);
        }) as unknown as typeof client.query;
      });
      const db = new Kysely<Database>({
        dialect: new PostgresDialect({ pool }),
        plugins: [new CamelCasePlugin()],
      });
      await db.deleteFrom('jobs').execute();
      const q = new PostgresQueue(db, { pollMs: 50, leaseMs: 2000, listen: database!.url });
      try {
        const runs: number[] = [];
        let looked = -1;
        beforeSettle = async () => {
          looked = await q.runNow('q');
        };
        q.work('q', async () => {
          runs.push(Date.now());
          if (runs.length === 1) throw new RetryLater(60_000, 'waiting for a token');
        });
        await q.add([job('a', 1)]);
        await until(() => runs.length === 2, 'run again after runNow', 3000);
        expect(looked).toBe(0); // it looked while the job was still active: the ordering under test
      } finally {
        await q.close();
        await db.destroy();
      }
    });
  });

  describe('adding and waking across processes', () => {
    it('enqueue() adds inside the caller’s transaction, and its commit wakes a worker elsewhere', async () => {
      const web = await backend.open();
      const worker = await web.reopen();
      const ran: string[] = [];
      // Polling only once a minute: only a notification can wake it in time.
      worker.queue({ pollMs: 60_000 }).work('q', async (j) => {
        ran.push(nameOf(j));
      });
      await until(async () => (await listeners(web.db)) === 1, 'listening');
      const adder = web.queue();
      await expect(
        web.db.transaction().execute(async (trx) => {
          await adder.enqueue(trx, [job('a', 1, 'rolled-back')]);
          throw new Error('the change failed');
        }),
      ).rejects.toThrow('the change failed');
      expect(await adder.counts()).toMatchObject({ ready: 0 });
      await web.db.transaction().execute((trx) => adder.enqueue(trx, [job('a', 2, 'committed')]));
      await until(() => ran.length === 1, 'woken by the commit');
      expect(ran).toEqual(['committed']);
    });

    it('jobs a worker adds to a queue it works are its own, with no notification; those it cannot take, it notifies', async () => {
      const one = await backend.open();
      const two = await one.reopen();
      const heard: string[] = [];
      const ear = new pg.Client({ connectionString: database!.url });
      await ear.connect();
      ear.on('notification', (n) => heard.push(n.payload ?? ''));
      await ear.query(`listen ${WAKE_CHANNEL}`);
      const ranBy: Record<string, string | undefined> = {};
      const held = gate();
      // `one` runs two jobs at a time; `two` polls once a minute: only a notification wakes it in time.
      const mine = one.queue({ pollMs: 60_000 });
      mine.work(
        'q',
        async (j) => {
          ranBy[nameOf(j)] = 'one';
          if (nameOf(j).startsWith('holds')) await held.opened;
        },
        { concurrency: 2 },
      );
      two.queue({ pollMs: 60_000 }).work('q', async (j) => {
        ranBy[nameOf(j)] = 'two';
      });
      try {
        // The test's queues share one LISTEN connection (one per process), and `ear` has its own.
        await until(async () => (await listeners(one.db)) >= 2, 'listening');
        await sleep(300); // the queues' LISTEN on a connection already open
        await mine.add([job('a', 1, 'added')]);
        await until(async () => (await mine.counts()).done === 1, 'run');
        await mine.add([job('h', 2, 'holds 1')]);
        await until(() => ranBy['holds 1'] !== undefined, 'holding a slot');
        expect(ranBy).toEqual({ added: 'one', 'holds 1': 'one' });
        expect(heard).toEqual([]);
        // One slot left for two jobs: the rest is for every worker.
        await mine.add([job('i', 3, 'holds 2'), job('j', 4, 'spilled')]);
        await until(() => ranBy.spilled !== undefined, 'run elsewhere');
        expect(ranBy).toEqual({ added: 'one', 'holds 1': 'one', 'holds 2': 'one', spilled: 'two' });
        expect(heard).toEqual(['q']);
      } finally {
        held.open();
        await ear.end();
      }
    });

    it('a runNow() from another process while a job runs ends the wait the run then asks for', async () => {
      const s = await backend.open();
      const runs: string[] = [];
      const held = gate();
      // Polling once a minute: only the row's mark can bring the job back within the test.
      s.queue({ pollMs: 60_000 }).work('q', async (j) => {
        runs.push(nameOf(j));
        if (runs.length > 1) return;
        await held.opened;
        throw new RetryLater(60_000, 'a minute from now');
      });
      const other = (await s.reopen()).queue({ pollMs: 60_000 });
      await other.add([job('a', 1)]);
      await until(() => runs.length === 1, 'the first run');
      // The other process's runner never saw the job: the row carries the request.
      expect(await other.runNow('q')).toBe(0);
      held.open();
      await until(() => runs.length === 2, 'run again at once, not in a minute');
      await until(async () => (await other.counts()).done === 1, 'its outcome written');
      expect(await other.counts()).toMatchObject({ ready: 0, active: 0, done: 1 });
    });

    it('runNow() marking running jobs never deadlocks with a transaction that locks them in the other order', async () => {
      // A round's outcomes lock several job rows in one transaction, in their own order. Were the
      // marks one UPDATE over several rows, it would hold the first row while waiting for the
      // second, which the transaction holds while waiting for the first: PostgreSQL would end one
      // of them with a deadlock. One row per statement holds nothing while it waits.
      const s = await backend.open();
      const later = Date.now() + 60_000;
      const [first, second] = await s.db
        .insertInto('jobs')
        .values([
          {
            ...runningRow({ key: 'a', dedupKey: 'mark-first', attempts: 1, lockedUntil: later }),
            queue: 'marks',
          },
          {
            ...runningRow({ key: 'b', dedupKey: 'mark-second', attempts: 1, lockedUntil: later }),
            queue: 'marks',
          },
        ])
        .returning('id')
        .execute();
      const marked = await s.db.connection().execute(async (c) => {
        await sql`begin`.execute(c);
        try {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(c);
          const pid = rows[0]!.pid;
          await sql`update jobs set updated_at = updated_at + 1 where id = ${second!.id}`.execute(c);
          const marking = s.queue().runNow('marks');
          marking.catch(() => {}); // a deadlock would end one of the two: either fails the test
          // runNow() has marked the first row (it goes by id) and waits for the second, held here.
          await until(
            async () =>
              (
                await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
                  where ${pid}::int = any(pg_blocking_pids(pid))`.execute(s.db)
              ).rows[0]!.n === 1,
            'runNow() waiting for the row this transaction holds',
          );
          await sql`update jobs set updated_at = updated_at + 1 where id = ${first!.id}`.execute(c);
          await sql`commit`.execute(c);
          return marking;
        } catch (err) {
          // Not back to the pool with the row still locked: the next tests would wait on it.
          await sql`rollback`.execute(c).catch(() => {});
          throw err;
        }
      });
      expect(marked).toBe(0); // no job was waiting to be made due
      const rows = await s.db
        .selectFrom('jobs')
        .select(['id', 'runAgain'])
        .where('queue', '=', 'marks')
        .orderBy('id')
        .execute();
      expect(rows).toEqual([
        { id: first!.id, runAgain: 1 },
        { id: second!.id, runAgain: 1 },
      ]);
    });

    it('a lost wake-up connection is opened again, and what was added meanwhile runs', async () => {
      const s = await backend.open();
      const ran: string[] = [];
      const q = s.queue({ pollMs: 60_000 });
      q.work('q', async (j) => {
        ran.push(nameOf(j));
      });
      await until(async () => (await listeners(s.db)) === 1, 'listening');
      await sql`select pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and query ilike 'listen%'`.execute(s.db);
      // Added by another process while no one listens: no notification reaches this worker.
      const other = await s.reopen();
      await other.queue().add([job('a', 1)]);
      await until(() => ran.length === 1, 'run once the connection is back');
      // One connection listens again (pg_stat_activity may show it a moment after the run, on a busy server).
      await until(async () => (await listeners(s.db)) === 1, 'listening again');
    });

    it('the listeners of one process share one connection; one closed or failing leaves the others hearing', async () => {
      const s = await backend.open();
      const heard: string[] = [];
      const listen = (channel: string, fail = false) =>
        new WakeListener({
          connection: database!.url,
          channel,
          onWake: (payload) => {
            if (payload === null) return;
            heard.push(`${channel}:${payload}`);
            if (fail) throw new Error('this listener fails');
          },
        });
      const a = listen('igdm_test_a', true);
      const b = listen('igdm_test_b');
      const c = listen('igdm_test_c');
      try {
        await until(() => a.listening && b.listening && c.listening, 'all three listening');
        expect(await listeners(s.db)).toBe(1);
        await sql`select pg_notify('igdm_test_a', '1'), pg_notify('igdm_test_b', '1')`.execute(s.db);
        await until(() => heard.length === 2, 'both heard, though the first listener threw');
        await c.close();
        await sql`select pg_notify('igdm_test_b', '2'), pg_notify('igdm_test_c', '2')`.execute(s.db);
        await until(() => heard.includes('igdm_test_b:2'), 'b still hears');
        await a.close();
        await a.close(); // twice: the connection b shares stays
        await sql`select pg_notify('igdm_test_b', '3')`.execute(s.db);
        await until(() => heard.includes('igdm_test_b:3'), 'b hears after a closed twice');
        expect(heard).toEqual(['igdm_test_a:1', 'igdm_test_b:1', 'igdm_test_b:2', 'igdm_test_b:3']);
        expect(await listeners(s.db)).toBe(1);
      } finally {
        await Promise.all([a.close(), b.close(), c.close()]);
      }
      await until(async () => (await listeners(s.db)) === 0, 'the connection closed with its last listener');
    });

    it('without a wake-up connection, workers still find jobs by polling', async () => {
      const s = await backend.open();
      const ran: string[] = [];
      s.queue({ listen: 'postgres://root@127.0.0.1:1/nowhere', pollMs: 100 }).work('q', async (j) => {
        ran.push(nameOf(j));
      });
      const other = await s.reopen();
      await other.queue().add([job('a', 1), job('a', 2)]);
      await until(() => ran.length === 2, 'found by polling');
      expect(ran).toEqual(['a@1', 'a@2']);
    });
  });
});

/** Connections of this database LISTENing (the worker's wake-up connection). */
async function listeners(db: Kysely<Database>) {
  const r = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
    where datname = current_database() and query ilike 'listen%'`.execute(db);
  return r.rows[0]!.n;
}
