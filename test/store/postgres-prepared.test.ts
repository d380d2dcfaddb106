import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/store/postgres.ts';
import { PLANNED_PER_RUN, StatementNames } from '../../src/store/postgres-prepared.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/postgres.ts';

// Repeated statements run as named prepared statements on PostgreSQL (postgres-prepared.ts):
// parsed once per connection, their results the same as unnamed ones.

const postgres = await postgresAvailable();

describe('which texts get a name', () => {
  it('a text seen a second time, the same name each time after', () => {
    const names = new StatementNames();
    expect(names.nameOf('select 1 where $1')).toBeUndefined();
    const name = names.nameOf('select 1 where $1');
    expect(name).toMatch(/^igdm_\d+$/);
    expect(names.nameOf('select 1 where $1')).toBe(name);
    expect(names.nameOf('select 2 where $1')).toBeUndefined();
    expect(names.nameOf('select 2 where $1')).not.toBe(name);
  });

  it('never a text marked to be planned at every run (a join on an array of ids)', () => {
    const names = new StatementNames();
    const text = `${PLANNED_PER_RUN}update t set a = m.a from unnest($1::int[], $2::int[]) as m(id, a) where t.id = m.id`;
    for (let i = 0; i < 10; i++) expect(names.nameOf(text)).toBeUndefined();
  });

  it('never transaction control, DDL, a column wildcard (its columns may change) or one too long to repeat', () => {
    const names = new StatementNames();
    for (const text of [
      'begin',
      'commit',
      'create table t (a int)',
      'select * from jobs where id = $1',
      'select "outbox".*, "c"."at" from "outbox" join "c" on true',
      'select a, j.* from jobs j',
      'select distinct * from jobs',
      'update jobs set status = $1 returning *',
      'with r as (select * from unnest($1::int[]) as r(id)) select id from r',
      `select ${'1,'.repeat(5000)}1`,
    ]) {
      names.nameOf(text);
      expect(names.nameOf(text)).toBeUndefined();
    }
  });

  it('a * that is not a wildcard (a count, a product) does not keep a text from its name', () => {
    const names = new StatementNames();
    for (const text of [
      'select count(*) from jobs where queue = $1',
      'select (extract(epoch from now()) * 1000)::bigint as at',
      'select $1::int*2 as n',
    ]) {
      names.nameOf(text);
      expect(names.nameOf(text)).toMatch(/^igdm_\d+$/);
    }
  });

  it('at most 400 names per process: texts that vary with their arguments run unnamed past that', () => {
    const names = new StatementNames();
    for (let i = 0; i < 400; i++) {
      names.nameOf(`select ${i}`);
      expect(names.nameOf(`select ${i}`)).toBeDefined();
    }
    names.nameOf('select 400');
    expect(names.nameOf('select 400')).toBeUndefined();
    expect(names.nameOf('select 0')).toBe('igdm_1');
  });
});

describe.skipIf(!postgres)('on PostgreSQL', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database?.drop());

  it('a statement run again is prepared once on its connection and answers as before', async () => {
    const db = openPostgres(database.url, { maxConnections: 1 });
    try {
      const answers: number[] = [];
      for (const n of [1, 2, 3]) {
        const { rows } = await sql<{ n: number }>`select ${n}::int + 1 as n`.execute(db);
        answers.push(rows[0]!.n);
      }
      expect(answers).toEqual([2, 3, 4]);
      const { rows } = await sql<{
        name: string;
        statement: string;
      }>`select name, statement from pg_prepared_statements`.execute(db);
      expect(rows.filter((r) => r.statement.includes('::int + 1 as n'))).toEqual([
        { name: expect.stringMatching(/^igdm_\d+$/), statement: expect.any(String) },
      ]);
    } finally {
      await db.destroy();
    }
  });
});
