// Measures pg-boss 12's key_strict_fifo policy against igdm's queue guarantees on a real PostgreSQL
// (docs/queue-on-postgres.md). In a scratch directory outside the repository:
//   npm install pg-boss@12.38.1 pg && createdb igdm_queue_research_boss
//   node boss.mjs          (the scenarios; `node boss.mjs child` is the worker it kills)
import { fork } from 'node:child_process';
import pg from 'pg';
import { PgBoss } from 'pg-boss';

const connectionString =
  process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/igdm_queue_research_boss';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const Q = 'conv';
const tuned = { superviseIntervalSeconds: 1, monitorIntervalSeconds: 1 };
const work = (boss, handler) =>
  boss.work(Q, { pollingIntervalSeconds: 0.5, batchSize: 1, localConcurrency: 4 }, async ([job]) =>
    handler(job),
  );

if (process.argv[2] === 'child') {
  const boss = new PgBoss({ connectionString, ...tuned });
  boss.on('error', () => {});
  await boss.start();
  await work(boss, async (job) => {
    process.send?.({ started: job.data.name });
    await new Promise(() => {});
  });
} else {
  const pool = new pg.Pool({ connectionString });
  await pool.query('drop schema if exists pgboss cascade');
  const boss = new PgBoss({ connectionString, ...tuned });
  boss.on('error', (e) => console.error('boss error', e.message));
  await boss.start();
  await boss.createQueue(Q, {
    policy: 'key_strict_fifo',
    retryLimit: 1,
    retryDelay: 1,
    heartbeatSeconds: 10,
  });

  // Sends inside the caller's transaction (pg-boss's `db` option).
  const sendInTrx = async (jobs, options = {}) => {
    const c = await pool.connect();
    await c.query('begin');
    const db = { executeSql: (text, values) => c.query(text, values) };
    for (const [key, name] of jobs) await boss.send(Q, { name }, { singletonKey: key, db, ...options });
    await c.query('commit');
    c.release();
  };
  const ran = [];
  const tries = new Map();
  let failForever = new Set();
  await work(boss, async (job) => {
    const n = (tries.get(job.data.name) ?? 0) + 1;
    tries.set(job.data.name, n);
    ran.push(`${job.data.name}#${n}`);
    if (job.data.name === 'a@1' && n === 1) throw new Error('not this time');
    if (failForever.has(job.data.name)) throw new Error('poison');
    return { ok: job.data.name };
  });
  const of = (key) => ran.filter((r) => r.startsWith(`${key}@`)).join(' ');

  // A. Ten jobs of one key added in one transaction (one webhook batch): run in which order?
  console.log('\n== A: ten jobs of key s added in one transaction');
  await sendInTrx(Array.from({ length: 10 }, (_, i) => ['s', `s@${i + 1}`]));
  for (let i = 0; i < 100 && ran.filter((r) => r.startsWith('s@')).length < 10; i++) await sleep(100);
  console.log('run order:', of('s'));

  // B. A failing job: does the next of its key wait for its retry?
  console.log('\n== B: a@1 fails once, a@2 behind it');
  // (one transaction each: within one, the order is random, as A shows)
  await sendInTrx([['a', 'a@1']]);
  await sendInTrx([['a', 'a@2']]);
  for (let i = 0; i < 100 && ran.filter((r) => r.startsWith('a@')).length < 3; i++) await sleep(100);
  console.log('run order:', of('a'), '(igdm needs a@1#1 a@1#2 a@2#1)');
  const kept = await boss.findJobs(Q, { key: 'a' }).catch(() => null);
  console.log('completed jobs kept with output:', JSON.stringify(kept?.map((j) => [j.state, j.output])));

  // C. A job that fails for good: does its key run on?
  console.log('\n== C: b@1 fails for good (retryLimit 1), b@2 behind it');
  failForever = new Set(['b@1']);
  await sendInTrx([['b', 'b@1']]);
  await sendInTrx([['b', 'b@2']]);
  await sleep(6000);
  console.log('run order in 6 s:', of('b'), '(igdm: b@1#1 b@1#2, dead, then b@2#1)');
  console.log('blocked keys:', JSON.stringify(await boss.getBlockedKeys(Q)));

  // D. A worker SIGKILLed mid-job (heartbeatSeconds 10, supervise/monitor every 1 s).
  console.log('\n== D: a worker SIGKILLed while it runs k@1');
  const child = fork(new URL(import.meta.url).pathname, ['child'], { stdio: 'ignore' });
  await sleep(3000); // the child's worker is polling
  await boss.offWork(Q); // only the child may take k@1
  await sendInTrx([['k', 'k@1']]);
  await sendInTrx([['k', 'k@2']]);
  await new Promise((resolve) => child.on('message', resolve));
  child.kill('SIGKILL');
  const killedAt = Date.now();
  const ranD = [];
  await work(boss, async (job) => {
    ranD.push({ name: job.data.name, afterMs: Date.now() - killedAt });
  });
  for (let i = 0; i < 600 && ranD.length < 2; i++) await sleep(100);
  console.log('after the kill, run by the survivor:', JSON.stringify(ranD));
  const rows = await pool.query(
    `select data->>'name' name, state, retry_count from pgboss.job where singleton_key = 'k' order by created_on, id`,
  );
  console.log('k rows:', JSON.stringify(rows.rows));

  await boss.stop({ graceful: false, wait: false }).catch(() => {});
  await pool.end();
  process.exit(0);
}
