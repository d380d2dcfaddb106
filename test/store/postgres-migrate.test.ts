import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MigrationReport, openStore } from '../../src/store/index.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/postgres.ts';

// Every migration on PostgreSQL, from an empty database, gives the schema the embedded store has;
// processes starting at once migrate it once between them.

const postgres = await postgresAvailable();

/** Each table's columns: name, type and whether it may be null (primary keys left to each store). */
type Schema = Record<string, string[]>;

/** The three append-only tables' ids: SQLite's rowid alias, PostgreSQL's identity column. */
const IDENTITY = new Set(['webhook_events.id', 'jobs.id', 'events.id']);

const column = (table: string, name: string, type: string, notNull: boolean, pk: boolean) =>
  IDENTITY.has(`${table}.${name}`)
    ? `${name} identity`
    : `${name} ${type.toLowerCase()}${pk ? ' key' : notNull ? ' not null' : ''}`;

function sqliteSchema(file: string): { tables: Schema; indexes: string[] } {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const tables: Schema = {};
    const names = db
      .prepare(
        `select name from sqlite_master where type = 'table'
           and name not like 'sqlite_%' and name not like 'messages_fts%' and name not like 'kysely_%'`,
      )
      .all() as { name: string }[];
    for (const { name } of names) {
      const cols = db.prepare(`pragma table_info(${name})`).all() as {
        name: string;
        type: string;
        notnull: number;
        pk: number;
      }[];
      tables[name] = cols.map((c) => column(name, c.name, c.type, c.notnull === 1, c.pk > 0)).sort();
    }
    const indexes = db
      .prepare(`select name from sqlite_master where type = 'index' and name not like 'sqlite_autoindex%'`)
      .all() as { name: string }[];
    return { tables, indexes: indexes.map((i) => i.name).sort() };
  } finally {
    db.close();
  }
}

async function postgresSchema(db: Kysely<unknown>): Promise<{ tables: Schema; indexes: string[] }> {
  const { rows: cols } = await sql<{
    tableName: string;
    columnName: string;
    dataType: string;
    isNullable: string;
    pk: boolean;
  }>`
    select c.table_name, c.column_name, c.data_type, c.is_nullable,
      exists (select 1 from information_schema.key_column_usage k
        join information_schema.table_constraints t using (constraint_schema, constraint_name)
        where t.constraint_type = 'PRIMARY KEY' and k.table_name = c.table_name
          and k.column_name = c.column_name) as pk
    from information_schema.columns c
    where c.table_schema = current_schema() and c.table_name not like 'kysely_%'`.execute(db);
  const tables: Schema = {};
  for (const c of cols) {
    tables[c.tableName] ??= [];
    tables[c.tableName]!.push(column(c.tableName, c.columnName, c.dataType, c.isNullable === 'NO', c.pk));
  }
  for (const t of Object.values(tables)) t.sort();
  // Indexes made by the migrations, not those backing a primary key or a unique constraint.
  const { rows: indexes } = await sql<{ name: string }>`
    select i.relname as name from pg_index x join pg_class i on i.oid = x.indexrelid
      join pg_class t on t.oid = x.indrelid join pg_namespace n on n.oid = t.relnamespace
    where n.nspname = current_schema() and t.relname not like 'kysely_%'
      and not exists (select 1 from pg_constraint k where k.conindid = x.indexrelid)`.execute(db);
  return { tables, indexes: indexes.map((i) => i.name).sort() };
}

describe.skipIf(!postgres)('migrations on PostgreSQL', () => {
  const databases: TestDatabase[] = [];
  const fresh = async () => {
    const d = await createTestDatabase();
    databases.push(d);
    return d;
  };
  let dir: string;
  let embedded: { report: MigrationReport; schema: ReturnType<typeof sqliteSchema> };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'igdm-pg-migrate-'));
    const file = join(dir, 'igdm.sqlite');
    const reports: MigrationReport[] = [];
    const store = await openStore(`sqlite:${file}`, { migrated: (r) => reports.push(r) });
    await store.close();
    embedded = { report: reports[0]!, schema: sqliteSchema(file) };
  });

  afterAll(async () => {
    for (const d of databases) await d.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies every migration to an empty database, giving the embedded store’s tables and indexes', async () => {
    const { url } = await fresh();
    const reports: MigrationReport[] = [];
    const store = await openStore(url, { migrated: (r) => reports.push(r) });
    try {
      expect(store.kind).toBe('postgres');
      expect(reports[0]!.applied).toEqual(embedded.report.applied);
      expect(reports[0]!.applied).toHaveLength(reports[0]!.total);
      const schema = await postgresSchema(store.db as Kysely<unknown>);
      expect(schema.tables).toEqual(embedded.schema.tables);
      // Search: SQLite's FTS5 table and triggers, PostgreSQL's index on the text's tsvector.
      expect(schema.indexes).toEqual([...embedded.schema.indexes, 'messages_search'].sort());
    } finally {
      await store.close();
    }
    const again: MigrationReport[] = [];
    await (await openStore(url, { migrated: (r) => again.push(r) })).close();
    expect(again[0]).toEqual({ applied: [], total: embedded.report.total });
  });

  it('migrates once when several processes start at once: all succeed, one applies the migrations', async () => {
    const { url } = await fresh();
    const pools = Array.from({ length: 4 }, () => openPostgres(url));
    try {
      const reports = await Promise.all(pools.map((db) => migrate(db as Kysely<unknown>, 'postgres')));
      const applied = reports.map((r) => r.applied.length).sort((a, b) => a - b);
      expect(applied).toEqual([0, 0, 0, embedded.report.total]);
      const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
        pools[0]!,
      );
      expect(rows.map((r) => r.name)).toEqual(embedded.report.applied);
    } finally {
      for (const db of pools) await db.destroy();
    }
  });
});
