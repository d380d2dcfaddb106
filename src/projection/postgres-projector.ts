import { type Kysely, sql, type Transaction } from 'kysely';
import { inboundEvents } from '../events/inbound.ts';
import { mediaJobOf } from '../media/jobs.ts';
import { type DomainEvent, type Referral, referralOf } from '../meta/events.ts';
import { normalise } from '../meta/normalise.ts';
import type { NewJob } from '../queue/queue.ts';
import { argsOf } from '../store/events.ts';
import { isPostgresFault } from '../store/faults.ts';
import { contactIdOf, conversationIdOf, messageIdOf } from '../store/ids.ts';
import { lockMid } from '../store/mid-lock.ts';
import { PLANNED_PER_RUN } from '../store/postgres-prepared.ts';
import { compile, param as p, together, type Write } from '../store/prepared.ts';
import { snakeCase } from '../store/rows.ts';
import type { Database } from '../store/schema.ts';
import { rawEventOf, STORED_EVENT_COLUMNS, type StoredEvent } from '../store/webhook-events.ts';
import { engineJobOf } from './engine-jobs.ts';
import { applyComment, awaitSteps, handlerOf, isConversationKind, type Scope } from './kinds.ts';
import { APPLIED, ignored, type Outcome, skipOf, unapplied } from './outcomes.ts';
import { type AsyncStatements, postgresStatements } from './postgres-statements.ts';
import type { Limits, ProjectResult } from './projector.ts';

// The projection on PostgreSQL (projector.ts's on SQLite): stored events applied in Meta's order, a
// batch per transaction, with the engine's and media jobs (the queue's enqueue, in the same
// transaction) and, in one statement at the end, each event's applied mark. One process at a time
// applies: a batch starts by taking a transaction-level advisory lock, and a process that does not
// get it leaves the batch to the one that did (docs/postgres.md says why this rather than a job per
// conversation).
//
// A batch's writes are sent without waiting for their answers (Compiled.later): only its reads and
// its commit wait, so a batch of one message is two round trips, not ten.
//
// An event that cannot be applied must leave no partial state behind, and the others of its batch
// must still apply. A savepoint per event would give that at two round trips per event; instead a
// batch runs without them, and only when one of its events fails is it rolled back and applied again
// with a savepoint around each event.

/** The advisory lock's key: 'igdm' and 'proj' as two ASCII int4s. */
const LOCK = [0x6967646d, 0x70726f6a] as const;

type PendingRow = StoredEvent & { backfilled: number };

/** An event failed in a batch applied without savepoints: the batch is applied again with them. */
class RedoWithSavepoints extends Error {}

/** One event's applied mark, written with the batch's others at its end. */
interface Mark {
  id: number;
  status: Outcome['status'];
  error: string | null;
}

const marks = compile<{ ids: number[]; statuses: string[]; errors: (string | null)[]; now: number }>(
  sql`${sql.raw(PLANNED_PER_RUN)}update webhook_events w set applied_at = ${p('now')}::bigint, apply_status = m.status, apply_error = m.error
    from unnest(${p('ids')}::bigint[], ${p('statuses')}::text[], ${p('errors')}::text[]) as m(id, status, error)
    where w.id = m.id`,
);
/**
 * One event's mark (most batches when events come one by one): `marks` is planned afresh at every
 * run (PLANNED_PER_RUN: its generic plan, made while the table was small, scanned all of it), this
 * one once per connection.
 */
const mark = compile<{ id: number; status: string; error: string | null; now: number }>(
  sql`update webhook_events set applied_at = ${p('now')}::bigint, apply_status = ${p('status')}::text,
    apply_error = ${p('error')}::text where id = ${p('id')}::bigint`,
);

/**
 * The projection's lock, and then, when it was got, the oldest unapplied events: one round trip (the
 * lock is sent ahead, Compiled.later), two statements, so that the events are read in a snapshot
 * taken after the lock (one taken before it could show a batch that another process committed just
 * as it let go). One row with `got` false when another process holds the lock, or true and no
 * event when none waits.
 */
const tryLock = compile(sql`select pg_try_advisory_xact_lock(${LOCK[0]}, ${LOCK[1]})`);
const pendingLocked = compile<{ limit: number }, { got: boolean } & Partial<PendingRow>>(
  sql`select l.got, ${sql.raw(STORED_EVENT_COLUMNS.map((c) => `e.${snakeCase(c)}`).join(', '))}
    from (select exists (select 1 from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()
      and classid = ${LOCK[0]} and objid = ${LOCK[1]} and objsubid = 2 and granted) as got) l
    left join lateral (
      select ${sql.raw(STORED_EVENT_COLUMNS.map(snakeCase).join(', '))} from webhook_events
      where l.got and applied_at is null order by meta_timestamp, id limit ${p('limit')}::integer
    ) e on true`,
);

/** The handlers' scope on PostgreSQL: together()'s writes wait for the event's log entries (flush). */
type PostgresScope = Omit<Scope<Write>, 'rowId'> & {
  rowId(mid: string): Promise<string>;
  /** Sends what together() holds, with `more`, as one statement. */
  flush(more?: Write[]): Promise<void>;
  /** The event is the echo of a send igdm recorded. */
  sentByIgdm: boolean;
};

/** Adds jobs inside the projector's transaction (PostgresQueue.enqueue). */
export type EnqueueIn = (trx: Transaction<Database>, jobs: NewJob[]) => Promise<void>;

export class PostgresProjector {
  readonly #db: Kysely<Database>;
  readonly #statements = postgresStatements();
  readonly #enqueue: EnqueueIn;

  constructor(db: Kysely<Database>, enqueue: EnqueueIn) {
    this.#db = db;
    this.#enqueue = enqueue;
  }

  /**
   * Applies the oldest unapplied events (by Meta's timestamp) in one transaction, within the limits;
   * `busy` when another process holds the projection's lock (it applies them).
   */
  async applyPending(limits: Limits): Promise<ProjectResult & { busy: boolean }> {
    try {
      return await this.#applyBatch(limits, false);
    } catch (err) {
      // A write of the batch failed; its answer may have come only with the commit. A failure of the
      // server or the connection is not the events': the batch is applied again later.
      if (!(err instanceof RedoWithSavepoints) && isPostgresFault(err)) throw err;
      return this.#applyBatch(limits, true);
    }
  }

  #applyBatch(limits: Limits, savepoints: boolean): Promise<ProjectResult & { busy: boolean }> {
    return this.#db.transaction().execute(async (trx) => {
      await tryLock.later(trx, {});
      const found = await pendingLocked.all(trx, { limit: limits.maxEvents });
      if (!found[0]?.got) return { events: 0, more: false, conversations: [], unapplied: {}, busy: true };
      const q = this.#statements.on(trx);
      const rows = found.filter((r) => r.id != null) as PendingRow[];
      const touched = new Set<string>();
      const failed: Record<string, number> = {};
      const applied: Mark[] = [];
      const started = performance.now();
      let more = rows.length === limits.maxEvents;
      for (const row of rows) {
        const outcome = await this.#applyRow(trx, q, row, touched, savepoints);
        applied.push({ id: row.id, status: outcome.status, error: outcome.reason });
        if (outcome.status === 'unapplied') failed[outcome.reason] = (failed[outcome.reason] ?? 0) + 1;
        if (applied.length < rows.length && performance.now() - started > limits.budgetMs) {
          more = true;
          break;
        }
      }
      const [one] = applied;
      if (applied.length === 1 && one)
        await mark.later(trx, { id: one.id, status: one.status, error: one.error, now: Date.now() });
      else if (applied.length > 1)
        await marks.later(trx, {
          ids: applied.map((m) => m.id),
          statuses: applied.map((m) => m.status),
          errors: applied.map((m) => m.error),
          now: Date.now(),
        });
      return { events: applied.length, more, conversations: [...touched], unapplied: failed, busy: false };
    });
  }

  /** Events not applied yet (counted up to 100000), and how long the oldest has waited. */
  async backlog(now = Date.now()): Promise<{ events: number; lagMs: number }> {
    const r = (await this.#statements.on(this.#db).backlog.get<{ events: number; oldest: number | null }>({
      cap: 100_000,
    }))!;
    return { events: Number(r.events), lagMs: r.oldest === null ? 0 : Math.max(0, now - Number(r.oldest)) };
  }

  async #applyRow(
    trx: Transaction<Database>,
    q: AsyncStatements,
    row: PendingRow,
    touched: Set<string>,
    savepoints: boolean,
  ): Promise<Outcome> {
    if (row.object !== 'instagram') return ignored(`object '${row.object}': igdm applies Instagram events`);
    const channelId = row.channelId;
    if (!channelId) return ignored(`no channel for account ${row.entryId ?? '(none)'} (unknown or deleted)`);
    if (savepoints) await sql`savepoint apply_event`.execute(trx);
    try {
      const jobs: NewJob[] = [];
      let job: NewJob | null = null;
      let outcome = APPLIED;
      for (const event of normalise(rawEventOf(row))) {
        const skip = skipOf(event);
        if (skip) {
          if (outcome.status !== 'unapplied') outcome = skip;
          continue;
        }
        const applied = await this.#applyEvent(trx, q, channelId, event, row.dedupKey);
        if (applied.conversation) touched.add(applied.conversation);
        if (row.backfilled === 1 && (event.kind === 'message' || event.kind === 'echo'))
          await q.setBackfilled.later({ id: messageIdOf(channelId, event.mid) });
        if (applied.ownEcho) continue;
        job ??= engineJobOf(channelId, event, row);
        if (event.kind === 'message' && applied.conversation) {
          const media = mediaJobOf(messageIdOf(channelId, event.mid), event.attachments, event.timestamp);
          if (media) jobs.push(media);
        }
      }
      if (job) jobs.push(job);
      if (jobs.length) await this.#enqueue(trx, jobs);
      // The release brings the answers of the event's writes: one that failed throws here.
      if (savepoints) await sql`release savepoint apply_event`.execute(trx);
      return outcome;
    } catch (err) {
      // A failure of the store (a lost connection, a full disk, a deadlock) is not the event's
      // fault: the whole batch rolls back and is applied again later.
      if (isPostgresFault(err)) throw err;
      // Without a savepoint the transaction cannot go on: the batch is applied again with them.
      if (!savepoints) throw new RedoWithSavepoints((err as Error).message);
      await sql`rollback to savepoint apply_event`.execute(trx);
      await sql`release savepoint apply_event`.execute(trx);
      return unapplied((err as Error).message);
    }
  }

  async #applyEvent(
    trx: Transaction<Database>,
    q: AsyncStatements,
    channelId: string,
    event: DomainEvent,
    eventKey: string,
  ): Promise<{ conversation: string | null; ownEcho: boolean }> {
    const nothing = { conversation: null, ownEcho: false };
    if (event.kind === 'comment') {
      await awaitSteps(applyComment(q, channelId, event, Date.now()));
      return nothing;
    }
    if (!isConversationKind(event.kind)) return nothing;
    const igsid = event.igsid;
    if (!igsid || igsid === event.accountId) return nothing;
    const scope = await this.#scope(trx, q, channelId, igsid, event.timestamp, eventKey);
    await awaitSteps(handlerOf(event.kind)(scope, event));
    const referral = referralOf(event);
    if (referral) {
      await scope.flush();
      await q.setSource.later({ id: scope.conversationId, source: sourceOf(referral), at: event.timestamp });
    }
    const events: Write[] = [];
    if (event.kind !== 'echo') {
      const mid =
        'mid' in event ? (event.mid ?? (event.kind === 'postback' ? eventKey : undefined)) : undefined;
      // A customer's message is never igdm's own: its row is its mid's, with no lock to take.
      const customers = event.kind === 'message' || event.kind === 'postback';
      const messageId =
        mid === undefined ? null : customers ? messageIdOf(channelId, mid) : await scope.rowId(mid);
      const where = { channelId, conversationId: scope.conversationId, messageId, eventKey };
      for (const e of inboundEvents(event, where)) events.push(q.insertEvent.write(argsOf(e, scope.now)));
    }
    // The handler's writes and the event log's, one statement.
    await scope.flush(events);
    return { conversation: scope.conversationId, ownEcho: event.kind === 'echo' && scope.sentByIgdm };
  }

  async #scope(
    trx: Transaction<Database>,
    q: AsyncStatements,
    channelId: string,
    igsid: string,
    at: number,
    eventKey: string,
  ): Promise<PostgresScope> {
    const now = Date.now();
    const conversationId = conversationIdOf(channelId, igsid);
    // Both kept if there already: written ahead of the event's writes, this costs no round trip,
    // where asking first would.
    const contactId = contactIdOf(channelId, igsid);
    await together(trx, [
      q.insertContact.write({ id: contactId, channelId, igsid, now }),
      q.insertConversation.write({ id: conversationId, channelId, igsid, contactId, at: at || now, now }),
    ]);
    /** Writes of together(), sent with the event's log entries (flush). */
    const buffered: Write[] = [];
    const touchArgs = (inbound: boolean, message: boolean) => ({
      id: conversationId,
      at,
      now,
      inbound: inbound ? 1 : 0,
      message: message ? 1 : 0,
    });
    const scope: PostgresScope = {
      q,
      channelId,
      conversationId,
      igsid,
      at,
      now,
      eventKey,
      sentByIgdm: false,
      touch: (inbound, message = true) => q.touch.later(touchArgs(inbound, message)),
      touchWrite: (inbound, message = true) => q.touch.write(touchArgs(inbound, message)),
      together: (writes) => {
        buffered.push(...writes);
      },
      flush: async (more = []) => {
        const writes = [...buffered.splice(0), ...more];
        if (writes.length > 0) await together(trx, writes);
      },
      rowId: async (mid) => {
        // The sender may be recording this mid right now: one waits for the other (mid-lock.ts).
        await lockMid(trx, channelId, mid);
        const sent = await q.sentByIgdm.get<{ messageId: string | null }>({ channelId, mid });
        if (sent) scope.sentByIgdm = true;
        return sent?.messageId ?? messageIdOf(channelId, mid);
      },
      earlyRow: async (mid) => {
        const id = await scope.rowId(mid);
        await q.ensureMessage.later({ id, channelId, conversationId, mid, at, now });
        return id;
      },
      markSeen: async () => {
        await scope.flush(); // after the message it may mark
        await q.markSeen.later({ conversationId, now });
      },
    };
    return scope;
  }
}

const sourceOf = (r: Referral) =>
  JSON.stringify({
    ref: r.ref ?? null,
    source: r.source ?? null,
    type: r.type ?? null,
    adId: r.adId ?? null,
  });
