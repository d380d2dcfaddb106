import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/store/postgres.ts';
import { compile, param as p, together } from '../../src/store/prepared.ts';
import type { Database } from '../../src/store/schema.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/postgres.ts';

// Writes sent without waiting for their answer (Compiled.later, store/postgres-pipeline.ts): what
// they change is seen by the transaction's next statement, and a write that fails fails that
// statement, or the commit, with its own error, leaving nothing of the transaction behind.

const postgres = await postgresAvailable();

type Db = Kysely<Database>;
const insert = compile<{ id: number; note: string }>(
  sql`insert into pipeline_notes (id, note) values (${p('id')}::int, ${p('note')})`,
);
const tag = compile<{ id: number; tag: string }>(
  sql`insert into pipeline_tags (id, tag) values (${p('id')}::int, ${p('tag')})`,
);
const notes = async (db: Db) =>
  (await sql<{ id: number }>`select id from pipeline_notes order by id`.execute(db)).rows.map((r) => r.id);

describe.skipIf(!postgres)('writes sent ahead of the next statement (PostgreSQL)', () => {
  let database: TestDatabase;
  let db: Db;
  beforeAll(async () => {
    database = await createTestDatabase();
    // One connection: every transaction below reuses the connection the one before it left.
    db = openPostgres(database.url, { maxConnections: 1 });
    await sql`create table pipeline_notes (id int primary key, note text not null)`.execute(db);
    await sql`create table pipeline_tags (id int primary key, tag text not null)`.execute(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it("the transaction's next statement sees them, and the commit keeps them", async () => {
    await sql`truncate pipeline_notes`.execute(db);
    const seen = await db.transaction().execute(async (trx) => {
      await insert.later(trx, { id: 1, note: 'a' });
      await insert.later(trx, { id: 2, note: 'b' });
      return notes(trx);
    });
    expect(seen).toEqual([1, 2]);
    expect(await notes(db)).toEqual([1, 2]);
  });

  it('a failed write fails the next statement with its own error, and nothing of the transaction stays', async () => {
    await sql`truncate pipeline_notes`.execute(db);
    await insert.run(db, { id: 1, note: 'kept' });
    const failing = db.transaction().execute(async (trx) => {
      await insert.later(trx, { id: 2, note: 'new' });
      await insert.later(trx, { id: 1, note: 'a duplicate' });
      await insert.later(trx, { id: 3, note: 'after it' });
      return notes(trx);
    });
    await expect(failing).rejects.toThrow(/duplicate key value violates unique constraint/);
    expect(await notes(db)).toEqual([1]);
  });

  it("a failed write that only the commit answers fails the commit with the write's error", async () => {
    await sql`truncate pipeline_notes`.execute(db);
    await insert.run(db, { id: 1, note: 'kept' });
    const failing = db.transaction().execute(async (trx) => {
      await insert.later(trx, { id: 2, note: 'new' });
      await insert.later(trx, { id: 1, note: 'a duplicate' });
    });
    await expect(failing).rejects.toThrow(/duplicate key value violates unique constraint/);
    expect(await notes(db)).toEqual([1]);
    // The connection is clean for the next transaction.
    await db.transaction().execute((trx) => insert.later(trx, { id: 4, note: 'next' }));
    expect(await notes(db)).toEqual([1, 4]);
  });

  it('outside a transaction a write is awaited: its error is thrown where it is written', async () => {
    await sql`truncate pipeline_notes`.execute(db);
    await insert.later(db, { id: 1, note: 'a' });
    await expect(insert.later(db, { id: 1, note: 'again' })).rejects.toThrow(/duplicate key/);
    expect(await notes(db)).toEqual([1]);
  });

  it('a transaction rolled back by its callback leaves nothing, its writes sent or not', async () => {
    await sql`truncate pipeline_notes`.execute(db);
    const failing = db.transaction().execute(async (trx) => {
      await insert.later(trx, { id: 1, note: 'a' });
      throw new Error('changed my mind');
    });
    await expect(failing).rejects.toThrow('changed my mind');
    expect(await notes(db)).toEqual([]);
  });

  it('writes together are one statement: all of them, or none when one fails', async () => {
    await sql`truncate pipeline_notes, pipeline_tags`.execute(db);
    await db.transaction().execute((trx) =>
      together(trx, [
        [insert, { id: 1, note: 'a' }],
        [tag, { id: 1, tag: 'x' }],
        [insert, { id: 2, note: 'b' }],
      ]),
    );
    expect(await notes(db)).toEqual([1, 2]);
    const failing = db.transaction().execute((trx) =>
      together(trx, [
        [insert, { id: 3, note: 'c' }],
        [tag, { id: 1, tag: 'a duplicate' }],
      ]),
    );
    await expect(failing).rejects.toThrow(/duplicate key/);
    expect(await notes(db)).toEqual([1, 2]);
    const tags = await sql<{ tag: string }>`select tag from pipeline_tags`.execute(db);
    expect(tags.rows).toEqual([{ tag: 'x' }]);
    // Outside a transaction too: one statement, awaited.
    await together(db, [
      [insert, { id: 4, note: 'd' }],
      [tag, { id: 4, tag: 'y' }],
    ]);
    expect(await notes(db)).toEqual([1, 2, 4]);
  });
});
