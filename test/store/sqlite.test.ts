import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { builder, openStore, type Store } from '../../src/store/index.ts';
import { compile, param } from '../../src/store/prepared.ts';
import { WriteGate } from '../../src/store/write-gate.ts';

// The store's main-thread connection (src/store/sqlite.ts): Kysely's connections share one SQLite
// connection, so a transaction keeps everyone else out until it ends, writes and transactions hold
// the write gate shared with the ingest worker, and a write resolves once it is on disk.

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function store(): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), 'igdm-store-'));
  dirs.push(dir);
  const s = await openStore(`sqlite:${join(dir, 'igdm.sqlite')}`);
  stores.push(s);
  await s.db.insertInto('settings').values({ key: 'n', value: '0' }).execute();
  return s;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const value = async (s: Store) =>
  (await s.db.selectFrom('settings').select('value').where('key', '=', 'n').executeTakeFirstOrThrow()).value;

describe('one connection, many Kysely users', () => {
  it('reads outside an open transaction wait for its end (they would run inside it)', async () => {
    const s = await store();
    let read: string | undefined;
    await s.db.transaction().execute(async (trx) => {
      await trx.updateTable('settings').set({ value: 'inside' }).where('key', '=', 'n').execute();
      void value(s).then((v) => {
        read = v;
      });
      await sleep(30); // a macrotask: the read would run now if nothing held it
      expect(read).toBeUndefined();
      await trx.updateTable('settings').set({ value: 'committed' }).where('key', '=', 'n').execute();
    });
    await sleep(5);
    expect(read).toBe('committed');
  });

  it('transactions and writes from concurrent callers never interleave; a rollback leaves nothing', async () => {
    const s = await store();
    const increment = () =>
      s.db.transaction().execute(async (trx) => {
        const row = await trx
          .selectFrom('settings')
          .select('value')
          .where('key', '=', 'n')
          .executeTakeFirstOrThrow();
        await sleep(1);
        await trx
          .updateTable('settings')
          .set({ value: String(Number(row.value) + 1) })
          .where('key', '=', 'n')
          .execute();
      });
    const failing = s.db
      .transaction()
      .execute(async (trx) => {
        await trx.updateTable('settings').set({ value: '1000' }).where('key', '=', 'n').execute();
        throw new Error('no');
      })
      .catch((err: Error) => err.message);
    const writes = Array.from({ length: 10 }, () =>
      s.db
        .insertInto('settings')
        .values({ key: `k${Math.random()}`, value: 'x' })
        .execute(),
    );
    await Promise.all([...Array.from({ length: 20 }, increment), failing, ...writes]);
    expect(await failing).toBe('no');
    expect(await value(s)).toBe('20');
    expect(
      await s.db
        .selectFrom('settings')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst(),
    ).toEqual({
      n: 11,
    });
  });
});

describe('compiled statements (store/prepared.ts), run on the connection directly', () => {
  const read = compile<{ key: string }, { value: string }>(
    builder.selectFrom('settings').select('value').where('key', '=', param<string>('key')),
  );
  const set = compile<{ key: string; value: string }>(
    builder
      .updateTable('settings')
      .set({ value: param<string>('value') })
      .where('key', '=', param<string>('key')),
  );

  it('run inside the transaction they are given, and roll back with it', async () => {
    const s = await store();
    const failed = await s.db
      .transaction()
      .execute(async (trx) => {
        expect(await set.changes(trx, { key: 'n', value: 'inside' })).toBe(1);
        expect(await read.first(trx, { key: 'n' })).toEqual({ value: 'inside' });
        throw new Error('rolled back');
      })
      .catch((err: Error) => err.message);
    expect(failed).toBe('rolled back');
    expect(await read.all(s.db, { key: 'n' })).toEqual([{ value: '0' }]);
  });

  it('outside a transaction, wait for the open one to end, reads and writes alike', async () => {
    const s = await store();
    const seen: string[] = [];
    await s.db.transaction().execute(async (trx) => {
      await trx.updateTable('settings').set({ value: 'inside' }).where('key', '=', 'n').execute();
      void read.first(s.db, { key: 'n' }).then((r) => seen.push(`read ${r?.value}`));
      void set.run(s.relaxed, { key: 'n', value: 'after' }).then(() => seen.push('write'));
      await sleep(30);
      expect(seen).toEqual([]);
      await trx.updateTable('settings').set({ value: 'committed' }).where('key', '=', 'n').execute();
    });
    await sleep(5);
    expect(seen.sort()).toEqual(['read committed', 'write']);
    expect(await value(s)).toBe('after');
  });
});

describe('the write gate', () => {
  it('keeps the main thread, the ingest worker and the projector out of each other (no lost update)', async () => {
    const gate = new WriteGate('main');
    const counter = new Int32Array(new SharedArrayBuffer(4));
    const workers = (['ingest', 'projector'] as const).map((party) => {
      const worker = new Worker(new URL('./gate-worker.ts', import.meta.url), {
        workerData: { gate: gate.buffer, counter: counter.buffer, times: 200, party },
      });
      return new Promise((resolve, reject) => {
        worker.once('exit', resolve);
        worker.once('error', reject);
      });
    });
    for (let i = 0; i < 200; i++) {
      await gate.lock();
      const n = counter[0]!;
      await sleep(0); // the main thread's holder awaits meanwhile, as a transaction does
      counter[0] = n + 1;
      gate.unlock();
    }
    await Promise.all(workers);
    expect(counter[0]).toBe(600);
  });
});

describe('relaxed writes', () => {
  it('share the connection with db: they wait for its transaction, and each sees the other', async () => {
    const s = await store();
    let done = false;
    await s.db.transaction().execute(async (trx) => {
      await trx.updateTable('settings').set({ value: 'from db' }).where('key', '=', 'n').execute();
      void s.relaxed
        .insertInto('settings')
        .values({ key: 'relaxed', value: 'x' })
        .execute()
        .then(() => {
          done = true;
        });
      await sleep(20);
      expect(done).toBe(false); // it would have joined the transaction
    });
    await until(() => done);
    expect(
      await s.relaxed.selectFrom('settings').select('value').where('key', '=', 'n').executeTakeFirst(),
    ).toEqual({
      value: 'from db',
    });
    expect(
      await s.db.selectFrom('settings').select('key').where('key', '=', 'relaxed').executeTakeFirst(),
    ).toEqual({
      key: 'relaxed',
    });
  });
});

async function until(check: () => boolean) {
  for (let i = 0; i < 200 && !check(); i++) await sleep(5);
  expect(check()).toBe(true);
}
