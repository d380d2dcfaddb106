import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { isPostgresUrl, sqlitePathOf } from '../../src/store/index.ts';

// What a store holds, read around igdm (its own connection, so it works while the service runs or
// after it stopped), for claims about what must not be kept: a secret in clear, an erased person's
// words. The same claim is checked on either store:
// - storedBytes: SQLite's files byte for byte (the database and its WAL: old page versions too);
//   PostgreSQL's tables, every row as JSON text (a database's files are the server's, not igdm's).
// - storedRows: every table's rows as JSON text, by table, on either store.

/** The store's contents, in parts named by file (SQLite) or table (PostgreSQL). */
export async function storedBytes(databaseUrl: string): Promise<{ name: string; bytes: Buffer }[]> {
  if (isPostgresUrl(databaseUrl))
    return [...(await storedRows(databaseUrl))].map(([name, rows]) => ({
      name,
      bytes: Buffer.from(rows.join('\n')),
    }));
  const file = sqlitePathOf(databaseUrl);
  return readdirSync(dirname(file))
    .filter((f) => f.startsWith(basename(file)))
    .map((f) => ({ name: f, bytes: readFileSync(join(dirname(file), f)) }));
}

/**
 * Every row of every table as JSON text, by table (SQLite's FTS5 index apart: its shadow tables
 * hold the words in its own encoding; tests ask the search about it).
 */
export async function storedRows(databaseUrl: string): Promise<Map<string, string[]>> {
  if (isPostgresUrl(databaseUrl)) {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows: tables } = await client.query<{ name: string }>(
        `select table_name as name from information_schema.tables
         where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1`,
      );
      const out = new Map<string, string[]>();
      for (const { name } of tables) {
        const { rows } = await client.query<{ row: string }>(
          `select row_to_json(t)::text as row from "${name}" t`,
        );
        out.set(
          name,
          rows.map((r) => r.row),
        );
      }
      return out;
    } finally {
      await client.end();
    }
  }
  const db = new DatabaseSync(sqlitePathOf(databaseUrl), { readOnly: true, timeout: 5000 });
  try {
    const tables = db
      .prepare(`select name from sqlite_master where type = 'table' and name not like 'messages_fts%'`)
      .all() as { name: string }[];
    return new Map(
      tables.map(({ name }) => [
        name,
        db
          .prepare(`select * from "${name}"`)
          .all()
          .map((row) => JSON.stringify(row)),
      ]),
    );
  } finally {
    db.close();
  }
}

/**
 * A query on the store, through a connection of its own; `?` marks the parameters on either store.
 * Counts come back as numbers.
 */
export async function storedQuery<T = Record<string, unknown>>(
  databaseUrl: string,
  text: string,
  params: (string | number)[] = [],
): Promise<T[]> {
  if (isPostgresUrl(databaseUrl)) {
    // bigint (count(*), ids, times) as numbers, as igdm's pool reads them.
    const types = {
      getTypeParser: (oid: number, format?: 'text' | 'binary') =>
        oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format),
    };
    const client = new pg.Client({ connectionString: databaseUrl, types: types as pg.CustomTypesConfig });
    await client.connect();
    try {
      let n = 0;
      const { rows } = await client.query(
        text.replace(/\?/g, () => `$${++n}`),
        params,
      );
      return rows as T[];
    } finally {
      await client.end();
    }
  }
  const db = new DatabaseSync(sqlitePathOf(databaseUrl), { readOnly: true, timeout: 5000 });
  try {
    return db.prepare(text).all(...params) as T[];
  } finally {
    db.close();
  }
}
