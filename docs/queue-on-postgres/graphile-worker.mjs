// Measures graphile-worker against igdm's queue guarantees on a real PostgreSQL
// (docs/queue-on-postgres.md). In a scratch directory outside the repository:
//   npm install graphile-worker@0.18.0 pg && createdb igdm_queue_research_gw
//   node gw.mjs            (the scenarios; `node gw.mjs child` is the worker it kills)
import { fork } from 'node:child_process';
import { makeWorkerUtils, run } from 'graphile-worker';
import pg from 'pg';

const connectionString = process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/igdm_queue_research_gw';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (process.argv[2] === 'child') {
  await run({
    connectionString,
    concurrency: 1,
    pollInterval: 100,
    taskList: {
      t: async (p) => {
        process.send?.({ started: p.name });
        await new Promise(() => {}); // hangs until killed
      },
    },
    noHandleSignals: true,
  });
} else {
  const pool = new pg.Pool({ connectionString });
  const utils = await makeWorkerUtils({ pgPool: pool });
  await utils.migrate();
  await pool.query(
    'delete from graphile_worker._private_jobs; delete from graphile_worker._private_job_queues',
  );

  // add_job inside the caller's transaction (the one thing it does as igdm needs).
  const addInTrx = async (jobs) => {
    const c = await pool.connect();
    await c.query('begin');
    for (const [queue, name] of jobs)
      await c.query(`select graphile_worker.add_job('t', $1::json, queue_name := $2)`, [
        JSON.stringify({ name }),
        queue,
      ]);
    await c.query('commit');
    c.release();
  };

  // A. A failing job of a named queue is overtaken by the next job of its queue.
  console.log('\n== A: a failed job awaiting retry vs the next job of its named queue');
  await addInTrx([
    ['conv-a', 'a@1'],
    ['conv-a', 'a@2'],
  ]);
  const ranA = [];
  const tries = new Map();
  const runnerA = await run({
    pgPool: pool,
    concurrency: 2,
    pollInterval: 100,
    noHandleSignals: true,
    taskList: {
      t: async (p) => {
        const n = (tries.get(p.name) ?? 0) + 1;
        tries.set(p.name, n);
        ranA.push(`${p.name}#${n}`);
        if (p.name === 'a@1' && n === 1) throw new Error('not this time');
      },
    },
  });
  for (let i = 0; i < 100 && ranA.length < 3; i++) await sleep(100);
  console.log('run order:', ranA.join(' '), '(igdm needs a@1#1 a@1#2 a@2#1)');

  // B. Done jobs are deleted: nothing to show in GET /v1/jobs, no result kept.
  const left = await pool.query(`select count(*)::int n from graphile_worker._private_jobs`);
  console.log('\n== B: rows left in graphile_worker jobs after both completed:', left.rows[0].n);
  await runnerA.stop();

  // C. A worker killed while running a job of a named queue: its job and its queue stay locked.
  console.log('\n== C: a worker SIGKILLed while it runs conv-k@1');
  await addInTrx([
    ['conv-k', 'k@1'],
    ['conv-k', 'k@2'],
  ]);
  const child = fork(new URL(import.meta.url).pathname, ['child'], { stdio: 'ignore' });
  await new Promise((resolve) => child.on('message', resolve));
  child.kill('SIGKILL');
  const killedAt = Date.now();
  const ranC = [];
  const runnerC = await run({
    pgPool: pool,
    concurrency: 2,
    pollInterval: 100,
    noHandleSignals: true,
    taskList: {
      t: async (p) => {
        ranC.push({ name: p.name, after: Date.now() - killedAt });
      },
    },
  });
  await sleep(15_000);
  const locked = await pool.query(
    `select j.payload->>'name' name, j.locked_by is not null locked, q.locked_by is not null queue_locked
       from graphile_worker._private_jobs j join graphile_worker._private_job_queues q on q.id = j.job_queue_id
      order by j.id`,
  );
  console.log('jobs of conv-k run by the surviving worker in 15 s:', JSON.stringify(ranC));
  console.log('conv-k rows:', JSON.stringify(locked.rows));
  await runnerC.stop();

  // D. localQueue (batched fetch): jobs of one named queue run at the same time.
  console.log('\n== D: localQueue.size 4, concurrency 3, six jobs of one named queue');
  await pool.query(
    'delete from graphile_worker._private_jobs; delete from graphile_worker._private_job_queues',
  );
  await addInTrx(Array.from({ length: 6 }, (_, i) => ['conv-l', `l@${i + 1}`]));
  let active = 0;
  let maxActive = 0;
  let doneD = 0;
  const runnerD = await run({
    pgPool: pool,
    noHandleSignals: true,
    preset: { worker: { concurrentJobs: 3, pollInterval: 100, localQueue: { size: 4 } } },
    taskList: {
      t: async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await sleep(200);
        active--;
        doneD++;
      },
    },
  });
  for (let i = 0; i < 100 && doneD < 6; i++) await sleep(100);
  console.log('most jobs of conv-l running at once:', maxActive, '(a named queue promises 1)');
  await runnerD.stop();
  await utils.release();
  await pool.end();
}
