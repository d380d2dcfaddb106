import type pg from 'pg';
import { type Cork, pipelined } from './postgres-pipeline.ts';

// Named prepared statements for the statements igdm runs again and again. Kysely sends every query
// unnamed, so PostgreSQL parses and plans each one afresh; most of igdm's are the same few dozen
// texts run thousands of times (the queue's claim, the projection's upserts). A text seen a second
// time gets a name: pg then parses it once per connection and PostgreSQL keeps its plan (a generic
// one after five runs, where that is no worse). Texts that vary with their arguments (an IN list of
// n values) would each take a name: past MAX_NAMED, texts are sent unnamed as before.

/** Distinct texts given a name, per process (each connection prepares those it runs). */
const MAX_NAMED = 400;
/** Longer texts are not named (a bulk insert's VALUES list). */
const MAX_LENGTH = 8_000;

interface Seen {
  runs: number;
  name: string | null;
}

export class StatementNames {
  readonly #seen = new Map<string, Seen>();
  #named = 0;

  /** The name to run `text` under, or undefined to run it unnamed. */
  nameOf(text: string): string | undefined {
    if (text.length > MAX_LENGTH) return undefined;
    let seen = this.#seen.get(text);
    if (!seen) {
      if (this.#seen.size >= MAX_NAMED * 4) return undefined; // texts that never repeat
      seen = { runs: 0, name: null };
      this.#seen.set(text, seen);
    }
    seen.runs++;
    if (seen.name === null && seen.runs >= 2 && this.#named < MAX_NAMED && preparable(text))
      seen.name = `igdm_${++this.#named}`;
    return seen.name ?? undefined;
  }
}

/**
 * Leads a text that must be planned with its arguments at every run: a join on an array of ids. A
 * generic plan for it is chosen after five runs and kept for the connection's life; made while the
 * table was small, it scans the whole table (a hash join), and nothing replaces it as the table grows
 * unless the table is analysed (not before autovacuum gets to it, never where it is off).
 */
export const PLANNED_PER_RUN = '/* planned per run */ ';

/**
 * Not named: a text marked PLANNED_PER_RUN, DDL and transaction control, and a text with a column
 * wildcard (`select *`, `t.*`, `returning *`): a column added by a newer igdm during a rolling deploy
 * would make PostgreSQL refuse its cached plan ("cached plan must not change result type"). Any other
 * `*` (`count(*)`, a product) does not expand: such texts are named like the rest.
 */
const WILDCARD = /(\bselect|\bdistinct|\breturning|,|\.)\s*\*/i;
const preparable = (text: string) =>
  !text.startsWith(PLANNED_PER_RUN) &&
  !WILDCARD.test(text) &&
  !/^\s*(create|alter|drop|begin|start|commit|rollback|savepoint|release|set|listen)\b/i.test(text);

/** Makes `pool`'s clients, as it opens them, run repeated statements as named prepared statements. */
export function prepareRepeated(pool: pg.Pool, names = new StatementNames()): void {
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
    const socket = (client as unknown as { connection?: { stream?: Cork } }).connection?.stream;
    const run = pipelined((text, values) => {
      const name = names.nameOf(text);
      return name === undefined ? query(text, values) : query({ name, text, values });
    }, socket);
    // Only query(text, values) as Kysely calls it; a config object, a cursor or a callback pass as they are.
    client.query = ((...args: unknown[]) => {
      const [text, values] = args;
      if (args.length !== 2 || typeof text !== 'string' || !Array.isArray(values)) return query(...args);
      return run(text, values);
    }) as typeof client.query;
  });
}
