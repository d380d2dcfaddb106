import { type Expression, type Kysely, sql } from 'kysely';
import { kindOf } from './dialect.ts';
import type { Database } from './schema.ts';

// Full-text search over messages' text, as a filter of the conversation list: SQLite's FTS5 index
// (messages_fts, migration-steps.ts) or PostgreSQL's tsvector (an index on the expression). Both
// fold case and diacritics and take each word as a prefix; they may rank differently, and their
// tokenizers split a few shapes differently (PostgreSQL keeps an e-mail address or a URL whole).

/** PostgreSQL's text search configuration for messages: `simple` words, without diacritics. */
export const SEARCH_CONFIG = 'igdm_search';

/** The words of the user's query (letters, digits, `_`), or none. */
const wordsOf = (text: string) => text.match(/[\p{L}\p{N}_]+/gu) ?? [];

/**
 * The user's words as an FTS5 query: each word a quoted prefix, all required. Quoting keeps FTS5's
 * operators (AND, NEAR, column:) and stray quotes from being read as query syntax. Null when the
 * text holds no word.
 */
export function searchQuery(text: string): string | null {
  const words = wordsOf(text);
  return words.length ? words.map((w) => `"${w}"*`).join(' ') : null;
}

/** The same as a PostgreSQL tsquery: each word a quoted prefix (`'ship':*`), all required. */
export function tsQuery(text: string): string | null {
  const words = wordsOf(text);
  return words.length ? words.map((w) => `'${w}':*`).join(' & ') : null;
}

/** Past this many matching messages, a search walks the conversations rather than the matches. */
const MANY_MATCHES = 2000;

/**
 * The conversations (`c`) with a message the user's words find, as a filter of the list; null when
 * the text holds no word (which finds nothing rather than everything).
 */
export async function matchingConversations(
  db: Kysely<Database>,
  text: string,
): Promise<Expression<boolean> | null> {
  if (kindOf(db) === 'postgres') {
    const query = tsQuery(text);
    // The expression repeats the index's (migration-steps.ts) so that PostgreSQL uses it; the
    // planner chooses between walking the matches and walking the conversations.
    const config = sql.lit(SEARCH_CONFIG);
    return query === null
      ? null
      : sql<boolean>`c.id in (select m.conversation_id from messages m where m.deleted_at is null
          and to_tsvector(${config}, m.text) @@ to_tsquery(${config}, ${query}))`;
  }
  const match = searchQuery(text);
  return match === null ? null : matchingSqlite(db, match);
}

/**
 * SQLite. Few matches: their conversations (each match's message looked up, ~2 µs each). Many (a
 * common word): the list walks the conversations newest first and looks in each one's messages for
 * a match, so it stops at the end of the page; looking up the 39 000 matches of "order" took 90 ms
 * (BENCHMARKS.md, API). Counting up to the threshold reads the index only.
 */
async function matchingSqlite(db: Kysely<Database>, match: string) {
  const { rows } = await sql<{ n: number }>`select count(*) as n from
    (select rowid from messages_fts where messages_fts match ${match} limit ${MANY_MATCHES + 1})`.execute(db);
  const matches = sql`(select rowid from messages_fts where messages_fts match ${match})`;
  return Number(rows[0]?.n ?? 0) > MANY_MATCHES
    ? sql<boolean>`exists (select 1 from messages m where m.conversation_id = c.id and m.rowid in ${matches})`
    : sql<boolean>`c.id in (select m.conversation_id from messages_fts f join messages m on m.rowid = f.rowid
        where messages_fts match ${match})`;
}
