import { CamelCasePlugin, type PluginTransformResultArgs, type QueryResult, type UnknownRow } from 'kysely';

// How values go into SQLite and rows come out of it, for the store's own driver (sqlite.ts,
// shared-connection.ts) and its prepared statements (prepared.ts).

export type Param = null | number | bigint | string | Uint8Array;

/**
 * Kysely's CamelCasePlugin for the SQL it builds; the rows are camelCase already: the driver names
 * their columns once per statement (the plugin renamed every key of every row, a large share of what
 * the main thread allocated). So rows read without plugins are camelCase too (Kysely's introspector
 * reads `dflt_value`: igdm does not use it).
 */
export class StoreCamelCase extends CamelCasePlugin {
  override async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }

  /** A column's snake_case name in camelCase, as the plugin would have renamed it. */
  columnName(name: string): string {
    return this.camelCase(name);
  }

  /** A camelCase name as the plugin writes it in SQL. */
  sqlName(name: string): string {
    return this.snakeCase(name);
  }
}

const namer = new StoreCamelCase();
export const camelCase = (name: string): string => namer.columnName(name);
export const snakeCase = (name: string): string => namer.sqlName(name);

/** A row from node:sqlite's array of values (setReturnArrays) and its columns' names. */
export function toRow<R>(names: string[], values: unknown[]): R {
  const row: Record<string, unknown> = {};
  for (let i = 0; i < names.length; i++) row[names[i]!] = values[i];
  return row as R;
}

/** A value as SQLite binds it: booleans as 0/1, dates as epoch ms, objects as JSON. */
export function toParam(v: unknown): Param {
  if (v === undefined || v === null) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string') return v;
  if (v instanceof Uint8Array) return v;
  if (v instanceof Date) return v.getTime();
  return JSON.stringify(v);
}
