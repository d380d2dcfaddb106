import { type Kysely, sql } from 'kysely';

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
