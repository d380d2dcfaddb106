import { EventEmitter } from 'node:events';
import { type Kysely, sql } from 'kysely';
import { compile, param as p } from '../store/prepared.ts';
import type { Database } from '../store/schema.ts';
import type { NewWebhookEvent } from '../store/webhook-events.ts';
import { channelOf, type Routes, routeMap, split } from './events.ts';
import type { ChannelRoute, WriteRequest, WriteResult } from './protocol.ts';
import type { IngestWriterEvents, WebhookWriter } from './writer.ts';

// The ingest path on PostgreSQL: a request's events inserted through the pool in one transaction
// (each once, by its dedup key) and acknowledged after the commit, which PostgreSQL makes durable.
// No thread of its own: the pool's connections wait for the server, not the event loop. The
// projectors of every process hear of new events through STORED_CHANNEL (postgres-projection.ts).

/**
 * NOTIFY'd in the transaction that stores new events: delivered only once they are committed. Its
 * payload names the process that stored them, which looks at once without it (and leaves its own).
 */
export const STORED_CHANNEL = 'igdm_stored';
/** Rows per insert statement: a request with more (rare) is stored in one transaction of several. */
const ROWS_PER_INSERT = 1000;

type Column<T> = T[];

/**
 * A request's events inserted (each once, by its dedup key) and, if any was new, STORED_CHANNEL
 * notified, in one statement: a request is one round trip, committed on its own.
 */
const insertEvents = compile<
  {
    dedupKeys: Column<string>;
    channelIds: Column<string | null>;
    objects: Column<string>;
    sources: Column<string>;
    kinds: Column<string>;
    entryIds: Column<string | null>;
    entryTimes: Column<number | null>;
    igsids: Column<string | null>;
    metaTimestamps: Column<number>;
    payloads: Column<string>;
    receivedAt: number;
    backfilled: number;
    origin: string;
  },
  { inserted: number }
>(
  sql`with added as (
    insert into webhook_events (dedup_key, channel_id, object, source, kind, entry_id, entry_time, igsid,
      meta_timestamp, payload, received_at, backfilled)
    select e.dedup_key, e.channel_id, e.object, e.source, e.kind, e.entry_id, e.entry_time, e.igsid,
      e.meta_timestamp, e.payload, ${p('receivedAt')}::bigint, ${p('backfilled')}::integer
    from unnest(${p('dedupKeys')}::text[], ${p('channelIds')}::text[], ${p('objects')}::text[],
      ${p('sources')}::text[], ${p('kinds')}::text[], ${p('entryIds')}::text[], ${p('entryTimes')}::bigint[],
      ${p('igsids')}::text[], ${p('metaTimestamps')}::bigint[], ${p('payloads')}::text[])
      as e(dedup_key, channel_id, object, source, kind, entry_id, entry_time, igsid, meta_timestamp, payload)
    on conflict (dedup_key) do nothing
    returning id),
  stored as (select pg_notify(${STORED_CHANNEL}, ${p('origin')}::text) where exists (select 1 from added))
  select (select count(*) from added)::int as inserted, (select count(*) from stored)::int as notified`,
);

export class PostgresIngestWriter extends EventEmitter<IngestWriterEvents> implements WebhookWriter {
  readonly #db: Kysely<Database>;
  readonly #stored: () => void;
  readonly #origin: string;
  readonly #writing = new Set<Promise<unknown>>();
  #routes: Routes;
  #closing = false;

  /**
   * `stored`: new events were committed (this process's projector looks at once); `origin`: this
   * process in the notifications (its projector leaves those, postgres-projection.ts).
   */
  constructor(db: Kysely<Database>, routes: ChannelRoute[], stored: () => void, origin = '') {
    super();
    this.#db = db;
    this.#routes = routeMap(routes);
    this.#stored = stored;
    this.#origin = origin;
  }

  /** Resolves once the body's events are committed (or refused). Never rejects. */
  write(req: Omit<WriteRequest, 'type' | 'id'>): Promise<WriteResult> {
    if (this.#closing) return Promise.resolve({ status: 'failed', reason: 'shutting down' });
    const writing = this.#write({ ...req, type: 'write', id: 0 });
    this.#writing.add(writing);
    void writing.finally(() => this.#writing.delete(writing));
    return writing;
  }

  async #write(req: WriteRequest): Promise<WriteResult> {
    let body: unknown;
    try {
      body = JSON.parse(req.body);
    } catch (err) {
      return { status: 'malformed', reason: `body is not valid JSON: ${(err as Error).message}` };
    }
    const events = split(body, req.body);
    const rows: NewWebhookEvent[] = events.map((e) => ({
      dedupKey: e.dedupKey,
      channelId: channelOf(e, req, this.#routes),
      object: e.object,
      source: e.source,
      kind: e.kind,
      entryId: e.entryId,
      entryTime: e.entryTime,
      igsid: e.igsid,
      metaTimestamp: e.timestamp,
      payload: e.json,
      receivedAt: req.receivedAt,
      backfilled: req.backfilled ? 1 : 0,
    }));
    let inserted = 0;
    try {
      if (rows.length === 0)
        inserted = 0; // a body with no events: acknowledged, nothing to store
      else if (rows.length <= ROWS_PER_INSERT) inserted = await insertRows(this.#db, rows, this.#origin);
      else
        await this.#db.transaction().execute(async (trx) => {
          for (let i = 0; i < rows.length; i += ROWS_PER_INSERT)
            inserted += await insertRows(trx, rows.slice(i, i + ROWS_PER_INSERT), this.#origin);
        });
    } catch (err) {
      return { status: 'failed', reason: (err as Error).message };
    }
    if (inserted > 0) this.#stored();
    return {
      status: 'stored',
      events: events.length,
      inserted,
      objects: [...new Set(events.map((e) => e.object))],
    };
  }

  setRoutes(routes: ChannelRoute[]) {
    this.#routes = routeMap(routes);
  }

  /** True when the store answers within `timeoutMs`. */
  async ping(timeoutMs = 5000): Promise<boolean> {
    if (this.#closing) return false;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const answer = sql`select 1`.execute(this.#db).then(
      () => true,
      () => false,
    );
    try {
      return await Promise.race([answer, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Finishes the writes under way; later ones are refused. */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.allSettled([...this.#writing]);
  }
}

/** Inserts `rows` (all of one request: one receivedAt, one backfilled); how many were new. */
async function insertRows(db: Kysely<Database>, rows: NewWebhookEvent[], origin: string): Promise<number> {
  const row = await insertEvents.first(db, {
    dedupKeys: rows.map((r) => r.dedupKey),
    channelIds: rows.map((r) => r.channelId ?? null),
    objects: rows.map((r) => r.object),
    sources: rows.map((r) => r.source),
    kinds: rows.map((r) => r.kind),
    entryIds: rows.map((r) => r.entryId ?? null),
    entryTimes: rows.map((r) => r.entryTime ?? null),
    igsids: rows.map((r) => r.igsid ?? null),
    metaTimestamps: rows.map((r) => r.metaTimestamp),
    payloads: rows.map((r) => r.payload),
    receivedAt: rows[0]!.receivedAt,
    origin,
    backfilled: rows[0]!.backfilled ?? 0,
  });
  return Number(row?.inserted ?? 0);
}
