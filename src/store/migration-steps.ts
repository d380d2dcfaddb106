import { type Kysely, sql } from 'kysely';
import { SEARCH_CONFIG } from './message-search.ts';

// The longer steps of some migrations (migrations.ts), each with its reason.

/**
 * Migration 0008: sends became jobs on the queue (send/send-jobs.ts, which this mirrors); the rows not
 * settled yet get theirs, keyed by recipient, in the order they were queued. (Outbox ids are
 * URL-safe: the payload needs no escaping.) Exported for its test.
 */
export async function addSendJobs(db: Kysely<unknown>): Promise<void> {
  const now = Date.now();
  await sql`insert into jobs (queue, key, order_at, dedup_key, payload, status, attempts, run_at,
      created_at, updated_at)
    select 'send', coalesce(conversation_id, channel_id || '|' || recipient), created_at,
      'send:' || id, '{"outboxId":"' || id || '"}', 'ready', 0, ${now}, ${now}, ${now}
    from outbox where status in ('queued', 'sending', 'unconfirmed')
    order by created_at, id`.execute(db);
}

/**
 * Full-text search over messages' text (SQLite FTS5). The index keeps no copy of the text
 * (contentless, with deletes) and is keyed by the messages' rowid; triggers keep it in step with
 * every writer (the projector's own statements, the outbox), so a deleted (unsent) message is no
 * longer found and an edited one is found by its new text. (VACUUM could renumber the rowids of a
 * table without an integer key: igdm never runs it; after a manual VACUUM, rebuild the index.)
 */
export async function messageSearch(db: Kysely<unknown>) {
  await sql`create virtual table messages_fts using fts5(text, content='', contentless_delete=1,
    tokenize='unicode61 remove_diacritics 2')`.execute(db);
  await sql`insert into messages_fts (rowid, text)
    select rowid, text from messages where text is not null and deleted_at is null`.execute(db);
  await sql`create trigger messages_fts_insert after insert on messages
    when new.text is not null and new.deleted_at is null begin
      insert into messages_fts (rowid, text) values (new.rowid, new.text);
    end`.execute(db);
  await sql`create trigger messages_fts_delete after delete on messages begin
      delete from messages_fts where rowid = old.rowid;
    end`.execute(db);
  await sql`create trigger messages_fts_update after update of text, deleted_at on messages begin
      delete from messages_fts where rowid = old.rowid;
      insert into messages_fts (rowid, text)
        select new.rowid, new.text where new.text is not null and new.deleted_at is null;
    end`.execute(db);
}

/**
 * Full-text search over messages' text on PostgreSQL: an index on the text's tsvector, of messages
 * not deleted, which the search repeats word for word (message-search.ts) so that the planner uses
 * it; an edited message is found by its new text, an unsent one no longer. Its configuration splits
 * words as `simple` does (no stemming, no stop words: FTS5's unicode61 has neither) and, where the
 * server has the unaccent extension (contrib; trusted since PostgreSQL 13), drops diacritics as
 * FTS5's remove_diacritics does. (to_tsvector with a named configuration is immutable, so it can
 * be indexed, though unaccent() alone is not.)
 */
export async function messageSearchPostgres(db: Kysely<unknown>) {
  const config = sql.raw(SEARCH_CONFIG);
  await sql`create text search configuration ${config} (copy = simple)`.execute(db);
  const { rows } = await sql`select 1 from pg_available_extensions where name = 'unaccent'`.execute(db);
  if (rows.length) {
    await sql`create extension if not exists unaccent`.execute(db);
    await sql`alter text search configuration ${config}
      alter mapping for word, hword, hword_part, numword, numhword, hword_numpart with unaccent, simple`.execute(
      db,
    );
  }
  await sql`create index messages_search on messages
    using gin (to_tsvector(${sql.lit(SEARCH_CONFIG)}, text)) where deleted_at is null`.execute(db);
}
