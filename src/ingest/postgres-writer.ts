import { EventEmitter } from 'node:events';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { NewWebhookEvent } from '../store/webhook-events.ts';
import { channelOf, type Routes, routeMap, split } from './events.ts';
import type { ChannelRoute, WriteRequest, WriteResult } from './protocol.ts';
import type { IngestWriterEvents, WebhookWriter } from './writer.ts';

// The ingest path on PostgreSQL: a request's events inserted through the pool in one transaction
// (each once, by its dedup key) and acknowledged after the commit, which PostgreSQL makes durable.
// No thread of its own: the pool's connections wait for the server, not the event loop. The
// projectors of every process hear of new events through STORED_CHANNEL (postgres-projection.ts).

/** NOTIFY'd in the transaction that stores new events: delivered only once they are committed. */
export const STORED_CHANNEL = 'igdm_stored';
/** Rows per insert statement (12 parameters each, under PostgreSQL's 65535). */
const ROWS_PER_INSERT = 1000;

export class PostgresIngestWriter extends EventEmitter<IngestWriterEvents> implements WebhookWriter {
  readonly #db: Kysely<Database>;
  readonly #stored: () => void;
  readonly #writing = new Set<Promise<unknown>>();
  #routes: Routes;
  #closing = false;

  /** `stored`: new events were committed (this process's projector looks at once). */
  constructor(db: Kysely<Database>, routes: ChannelRoute[], stored: () => void) {
    super();
    this.#db = db;
    this.#routes = routeMap(routes);
    this.#stored = stored;
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
      await this.#db.transaction().execute(async (trx) => {
        for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
          const ids = await trx
            .insertInto('webhookEvents')
            .values(rows.slice(i, i + ROWS_PER_INSERT))
            .onConflict((oc) => oc.column('dedupKey').doNothing())
            .returning('id')
            .execute();
          inserted += ids.length;
        }
        if (inserted > 0) await sql`select pg_notify(${STORED_CHANNEL}, '')`.execute(trx);
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
