import type { DatabaseSync } from 'node:sqlite';
import { type Kysely, sql } from 'kysely';
import type { Database } from './schema.ts';

// What `igdm migrate-store` copies from the embedded store to PostgreSQL, derived from the two
// schemas rather than listed by hand: every table of the embedded store but the migrator's
// bookkeeping and SQLite's own (the FTS5 index, which PostgreSQL replaces with an index of its own),
// each column with the PostgreSQL type the migrations gave it, parents before the tables that
// reference them. The two schemas must agree column for column (both stores ran the same
// migrations); any difference is reported before anything is copied.

/** Tables that are not igdm's data: the migrator's, SQLite's, and the FTS5 index with its shadow tables. */
const NOT_DATA = /^(kysely_|sqlite_|messages_fts)/;

export interface ColumnPlan {
  name: string;
  /** Its PostgreSQL type (information_schema's data_type). */
  type: string;
  /** The embedded store's value as PostgreSQL's column takes it; throws when it cannot. */
  convert: (value: unknown) => unknown;
}

export interface TablePlan {
  name: string;
  columns: ColumnPlan[];
  /** The primary key's columns, to name a row in an error. */
  key: string[];
  /** Columns whose values a sequence gives (identity columns): set past the copied ids afterwards. */
  sequenced: string[];
  /** Whether inserting its ids needs `overriding system value` (an identity column `generated always`). */
  generatedAlways: boolean;
  /** Its rows in the embedded store. */
  rows: number;
}

export class SchemaMismatchError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(
      `the two stores' schemas differ, so nothing was copied: ${problems.join('; ')}. This igdm migrated both, so one was changed by hand (or this is a bug: please report it)`,
    );
    this.problems = problems;
  }
}

/** Why a value does not fit its column: a message naming the table, the column and the row. */
export class ValueError extends Error {}

interface PgColumn {
  tableName: string;
  columnName: string;
  dataType: string;
  isIdentity: string;
  identityGeneration: string | null;
  columnDefault: string | null;
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

export { quote as quoteIdent };

/** The plan: the tables to copy, in an order where every reference finds its row already there. */
export async function planCopy(source: DatabaseSync, target: Kysely<Database>): Promise<TablePlan[]> {
  const { rows: pgColumns } = await sql<PgColumn>`
    select table_name, column_name, data_type, is_identity, identity_generation, column_default
    from information_schema.columns where table_schema = current_schema()
    order by table_name, ordinal_position`.execute(target);
  const pgTables = new Map<string, Map<string, PgColumn>>();
  for (const c of pgColumns) {
    if (NOT_DATA.test(c.tableName)) continue;
    if (!pgTables.has(c.tableName)) pgTables.set(c.tableName, new Map());
    pgTables.get(c.tableName)!.set(c.columnName, c);
  }

  const names = (
    source.prepare(`select name from sqlite_master where type = 'table' order by name`).all() as {
      name: string;
    }[]
  )
    .map((t) => t.name)
    .filter((n) => !NOT_DATA.test(n));
  const problems: string[] = [];
  for (const name of pgTables.keys()) {
    if (!names.includes(name)) problems.push(`table ${name} is in PostgreSQL only`);
  }
  const plans = new Map<string, TablePlan>();
  const parents = new Map<string, Set<string>>();
  for (const name of names) {
    const pg = pgTables.get(name);
    if (!pg) {
      problems.push(`table ${name} is in the embedded store only`);
      continue;
    }
    const info = source.prepare(`pragma table_info(${quote(name)})`).all() as {
      name: string;
      type: string;
      pk: number;
    }[];
    const columns: ColumnPlan[] = [];
    for (const col of info) {
      const target = pg.get(col.name);
      if (!target) {
        problems.push(`column ${name}.${col.name} is in the embedded store only`);
        continue;
      }
      const convert = converter(affinity(col.type), target.dataType);
      if (!convert) {
        problems.push(
          `column ${name}.${col.name} is ${col.type || 'untyped'} in SQLite, ${target.dataType} in PostgreSQL`,
        );
        continue;
      }
      columns.push({ name: col.name, type: target.dataType, convert });
    }
    for (const column of pg.keys()) {
      if (!info.some((c) => c.name === column))
        problems.push(`column ${name}.${column} is in PostgreSQL only`);
    }
    const sequencedCols = [...pg.values()].filter(
      (c) => c.isIdentity === 'YES' || c.columnDefault?.startsWith('nextval('),
    );
    const count = source.prepare(`select count(*) as n from ${quote(name)}`).get() as { n: number };
    plans.set(name, {
      name,
      columns,
      key: info
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name),
      sequenced: sequencedCols.map((c) => c.columnName),
      generatedAlways: sequencedCols.some((c) => c.identityGeneration === 'ALWAYS'),
      rows: Number(count.n),
    });
    const refs = source.prepare(`pragma foreign_key_list(${quote(name)})`).all() as { table: string }[];
    parents.set(name, new Set(refs.map((r) => r.table).filter((t) => t !== name)));
  }
  if (problems.length) throw new SchemaMismatchError(problems);
  return parentsFirst(plans, parents);
}

/** The tables ordered so that each comes after the tables its foreign keys reference. */
function parentsFirst(plans: Map<string, TablePlan>, parents: Map<string, Set<string>>): TablePlan[] {
  const ordered: TablePlan[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const place = (name: string) => {
    if (placed.has(name)) return;
    if (visiting.has(name)) throw new Error(`the tables' foreign keys form a cycle through ${name}`);
    visiting.add(name);
    for (const parent of parents.get(name) ?? []) if (plans.has(parent)) place(parent);
    visiting.delete(name);
    placed.add(name);
    ordered.push(plans.get(name)!);
  };
  for (const name of plans.keys()) place(name);
  return ordered;
}

type Affinity = 'integer' | 'text' | 'blob' | 'real' | 'numeric';

/** SQLite's type affinity of a declared column type (https://sqlite.org/datatype3.html, 3.1). */
function affinity(declared: string): Affinity {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'integer';
  if (/CHAR|CLOB|TEXT/.test(t)) return 'text';
  if (t.includes('BLOB') || t === '') return 'blob';
  if (/REAL|FLOA|DOUB/.test(t)) return 'real';
  return 'numeric';
}

const INT_RANGE: Record<string, number> = { smallint: 2 ** 15, integer: 2 ** 31, bigint: 2 ** 63 };

/**
 * How a value of a column of this affinity becomes a value of the PostgreSQL type, as JSON
 * (json_populate_recordset reads it); null when the pair is not one igdm's migrations make. A
 * value the column's declared type does not describe (SQLite keeps what it is given) throws.
 */
function converter(from: Affinity, to: string): ((value: unknown) => unknown) | null {
  const text = to === 'text' || to === 'character varying' || to === 'character';
  if (from === 'text' && text) {
    return (v) => {
      if (v === null || (typeof v === 'string' && !v.includes('\0'))) return v;
      throw new ValueError(
        typeof v === 'string'
          ? 'holds a NUL character, which PostgreSQL text cannot hold'
          : `holds ${kindOf(v)}`,
      );
    };
  }
  if ((from === 'integer' || from === 'numeric') && to in INT_RANGE) {
    const limit = INT_RANGE[to]!;
    return (v) => {
      if (v === null) return v;
      if (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) < limit) return v;
      if (typeof v === 'bigint' && v < BigInt(limit) && v >= -BigInt(limit)) return String(v);
      throw new ValueError(`holds ${kindOf(v)}, which PostgreSQL's ${to} cannot hold`);
    };
  }
  if (from === 'integer' && to === 'boolean') {
    return (v) => {
      if (v === null) return v;
      if (v === 0 || v === 1) return v === 1;
      throw new ValueError(`holds ${kindOf(v)}, not 0 or 1`);
    };
  }
  if (from === 'blob' && to === 'bytea') {
    return (v) => {
      if (v === null) return v;
      if (v instanceof Uint8Array)
        return `\\x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
      if (typeof v === 'string') return `\\x${Buffer.from(v).toString('hex')}`;
      throw new ValueError(`holds ${kindOf(v)}, not bytes`);
    };
  }
  if (
    (from === 'real' || from === 'numeric') &&
    (to === 'double precision' || to === 'real' || to === 'numeric')
  ) {
    return (v) => {
      if (v === null) return v;
      if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
      throw new ValueError(`holds ${kindOf(v)}, not a number`);
    };
  }
  return null;
}

function kindOf(v: unknown): string {
  if (v instanceof Uint8Array) return `a blob of ${v.byteLength} bytes`;
  // Not the text itself: it may be a customer's message.
  if (typeof v === 'string') return `text (${v.length} characters)`;
  return `the ${typeof v} ${String(v)}`;
}
