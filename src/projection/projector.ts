import type { DatabaseSync } from 'node:sqlite';
import { inboundEvents } from '../events/inbound.ts';
import { mediaJobOf } from '../media/jobs.ts';
import { type DomainEvent, type Referral, referralOf } from '../meta/events.ts';
import { normalise } from '../meta/normalise.ts';
import type { NewJob } from '../queue/queue.ts';
import { argsOf } from '../store/events.ts';
import { isStoreFault } from '../store/faults.ts';
import { contactIdOf, conversationIdOf, messageIdOf } from '../store/ids.ts';
import { rawEventOf } from '../store/webhook-events.ts';
import { engineJobOf } from './engine-jobs.ts';
import {
  applyComment,
  type HandlerStatements,
  handlerOf,
  isConversationKind,
  runSteps,
  type Scope,
} from './kinds.ts';
import { APPLIED, ignored, type Outcome, skipOf, unapplied } from './outcomes.ts';
import { type Statements, statements } from './statements.ts';

// The projection: stored webhook events applied to contacts, conversations and messages, in Meta's
// order, each with its handler (kinds.ts). Every step is an upsert keyed by Meta's ids, so applying
// an event twice, or replaying the whole log, gives the same state; and events that arrive out of
// order (an unsend or a reaction before its message, an echo after the read) still end in the right
// state. An event and its applied mark commit together, with the engine's job for it (the queue's
// enqueue port, in the same transaction).

export interface ProjectResult {
  events: number;
  /** More unapplied events are waiting. */
  more: boolean;
  /** Conversations whose state changed. */
  conversations: string[];
  /** Events of the batch that could not be applied, counted by reason. */
  unapplied: Record<string, number>;
}

export interface ProjectorOptions {
  /**
   * Adds a job in the projector's open transaction (the queue's enqueue port, queue/queue.ts); none
   * for a replay, which rebuilds state only: the engine already handled these events once.
   */
  enqueue?: ((job: NewJob) => void) | null;
}

export interface Limits {
  maxEvents: number;
  budgetMs: number;
  /** Asked after each event: true ends the batch early (someone else waits for the store). */
  yieldNow?: () => boolean;
}

interface PendingRow {
  id: number;
  dedupKey: string;
  channelId: string | null;
  object: string;
  source: string;
  entryId: string | null;
  entryTime: number | null;
  payload: string;
  receivedAt: number;
  /** 1: read back by a backfill (src/backfill/), not delivered by Meta. */
  backfilled: number;
}

export interface Applied {
  /** The conversation the event changed, if any. */
  conversation: string | null;
  /** An echo of a send igdm has recorded (by its mid). */
  ownEcho: boolean;
}

/**
 * Unapplied events are read this many at a time: a batch that another thread's wait cuts short
 * after a few events read (and parsed) the whole BATCH of 500 for nothing (a quarter of the
 * projector's time at 500 webhooks/s, BENCHMARKS.md).
 */
const PENDING_CHUNK = 32;

const NOTHING: Applied = { conversation: null, ownEcho: false };

/** A write as SQLite's scope makes it for together(): run when called. */
type Write = () => void;

/** The handlers' scope on SQLite: its lookups answer at once. */
type SqliteScope = Omit<Scope<Write>, 'rowId' | 'earlyRow'> & {
  rowId(mid: string): string;
  earlyRow(mid: string): string;
  /** The event is the echo of a send igdm recorded. */
  sentByIgdm: boolean;
};

/** Applies stored events on one SQLite connection, which it owns. */
export class Projector {
  readonly #sqlite: DatabaseSync;
  readonly #q: Statements;
  /** The same statements as the handlers use them (kinds.ts). */
  readonly #h: HandlerStatements<Write>;
  readonly #enqueue: ((job: NewJob) => void) | null;

  constructor(sqlite: DatabaseSync, options: ProjectorOptions = {}) {
    this.#sqlite = sqlite;
    this.#q = statements(sqlite);
    this.#h = handlerStatements(this.#q);
    this.#enqueue = options.enqueue ?? null;
  }

  /** Applies the oldest unapplied events (by Meta's timestamp) in one transaction, within the limits. */
  applyPending(limits: Limits): ProjectResult {
    const chunk = Math.min(limits.maxEvents, PENDING_CHUNK);
    let rows = this.#q.pending.all<PendingRow>({ limit: chunk });
    if (rows.length === 0) return { events: 0, more: false, conversations: [], unapplied: {} };
    const touched = new Set<string>();
    const failed: Record<string, number> = {};
    const started = performance.now();
    let done = 0;
    let more = false;
    this.#sqlite.exec('begin immediate');
    try {
      for (;;) {
        for (const row of rows) {
          const outcome = this.#applyRow(row, touched);
          this.#q.markApplied.run({
            id: row.id,
            now: Date.now(),
            status: outcome.status,
            error: outcome.reason,
          });
          if (outcome.status === 'unapplied') failed[outcome.reason] = (failed[outcome.reason] ?? 0) + 1;
          done++;
          if (
            done === limits.maxEvents ||
            performance.now() - started > limits.budgetMs ||
            limits.yieldNow?.()
          ) {
            more = true;
            break;
          }
        }
        if (more || rows.length < chunk) break;
        // The next ones: those applied above are no longer pending (this transaction marked them).
        rows = this.#q.pending.all<PendingRow>({ limit: chunk });
        if (rows.length === 0) break;
      }
      this.#sqlite.exec('commit');
    } catch (err) {
      if (this.#sqlite.isTransaction) this.#sqlite.exec('rollback');
      throw err;
    }
    return { events: done, more, conversations: [...touched], unapplied: failed };
  }

  /** Events not applied yet (counted up to 100000), and how long the oldest has waited. */
  backlog(now = Date.now()): { events: number; lagMs: number } {
    const r = this.#q.backlog.get<{ events: number; oldest: number | null }>({ cap: 100_000 })!;
    return { events: Number(r.events), lagMs: r.oldest === null ? 0 : Math.max(0, now - Number(r.oldest)) };
  }

  /** Applies every waiting event; returns how many, and how many of them could not be applied. */
  applyAll(): number {
    return this.applyAllCounted().events;
  }

  /** Applies every waiting event: how many, and how many of them could not be applied. */
  applyAllCounted(): { events: number; unapplied: number } {
    let events = 0;
    let unapplied = 0;
    for (;;) {
      const r = this.applyPending({ maxEvents: 1000, budgetMs: 1000 });
      events += r.events;
      for (const n of Object.values(r.unapplied)) unapplied += n;
      if (!r.more) return { events, unapplied };
    }
  }

  /** One stored event: applied, or why not (outcomes.ts). */
  #applyRow(row: PendingRow, touched: Set<string>): Outcome {
    if (row.object !== 'instagram') return ignored(`object '${row.object}': igdm applies Instagram events`);
    if (!row.channelId)
      return ignored(`no channel for account ${row.entryId ?? '(none)'} (unknown or deleted)`);
    // A savepoint per event: an event that cannot be applied leaves no partial state behind.
    this.#sqlite.exec('savepoint apply_event');
    try {
      let job: NewJob | null = null;
      let outcome = APPLIED;
      for (const event of normalise(rawEventOf(row))) {
        const skip = skipOf(event);
        if (skip) {
          // Unapplied says more than ignored (replay --unapplied tries it again).
          if (outcome.status !== 'unapplied') outcome = skip;
          continue;
        }
        const applied = this.applyEvent(row.channelId, event, row.dedupKey);
        if (applied.conversation) touched.add(applied.conversation);
        if (row.backfilled === 1 && (event.kind === 'message' || event.kind === 'echo'))
          this.#q.setBackfilled.run({ id: messageIdOf(row.channelId, event.mid) });
        // The echo of a send whose answer igdm has recorded completes it here: the engine has
        // nothing to decide. One that comes first, or that igdm did not send, goes to the engine.
        if (applied.ownEcho) continue;
        job ??= engineJobOf(row.channelId, event, row);
        // A copy of the customer's media, before Meta's links expire (media/keeper.ts).
        if (event.kind === 'message' && applied.conversation) {
          const media = mediaJobOf(messageIdOf(row.channelId, event.mid), event.attachments, event.timestamp);
          if (media) this.#enqueue?.(media);
        }
      }
      // The engine's work for this event, in the same transaction as its state: it is handed over
      // exactly once, however often the event is delivered or the log replayed (the dedup key).
      if (job) this.#enqueue?.(job);
      this.#sqlite.exec('release apply_event');
      return outcome;
    } catch (err) {
      // A failure of the store (a full disk, an I/O error, damage) is not the event's fault: the
      // whole batch rolls back (SQLite may have done so already) and is applied again later.
      if (isStoreFault(err)) throw err;
      this.#sqlite.exec('rollback to apply_event');
      this.#sqlite.exec('release apply_event');
      return unapplied((err as Error).message);
    }
  }

  /** Applies one domain event. */
  applyEvent(channelId: string, event: DomainEvent, eventKey: string): Applied {
    if (event.kind === 'comment') {
      runSteps(applyComment(this.#h, channelId, event, Date.now()));
      return NOTHING;
    }
    if (!isConversationKind(event.kind)) return NOTHING;
    const igsid = event.igsid;
    if (!igsid || igsid === event.accountId) return NOTHING;
    const scope = this.#scope(channelId, igsid, event.timestamp, eventKey);
    runSteps(handlerOf(event.kind)(scope, event));
    const referral = referralOf(event);
    if (referral)
      this.#q.setSource.run({ id: scope.conversationId, source: sourceOf(referral), at: event.timestamp });
    // What happened, for the event stream and outbound webhooks, in the same transaction.
    if (event.kind !== 'echo') {
      const mid =
        'mid' in event ? (event.mid ?? (event.kind === 'postback' ? eventKey : undefined)) : undefined;
      const where = {
        channelId,
        conversationId: scope.conversationId,
        messageId: mid === undefined ? null : scope.rowId(mid),
        eventKey,
      };
      for (const e of inboundEvents(event, where)) this.#q.insertEvent.run(argsOf(e, scope.now));
    }
    // An echo's row is looked up by its own mid only.
    return { conversation: scope.conversationId, ownEcho: event.kind === 'echo' && scope.sentByIgdm };
  }

  #scope(channelId: string, igsid: string, at: number, eventKey: string): SqliteScope {
    const q = this.#q;
    const now = Date.now();
    const conversationId = this.#ensureConversation(channelId, igsid, at);
    const touch = (inbound: boolean, message = true) =>
      q.touch.run({ id: conversationId, at, now, inbound: inbound ? 1 : 0, message: message ? 1 : 0 });
    const scope = {
      q: this.#h,
      channelId,
      conversationId,
      igsid,
      at,
      now,
      eventKey,
      sentByIgdm: false,
      touch,
      touchWrite:
        (inbound: boolean, message = true) =>
        () =>
          touch(inbound, message),
      together: (writes: Write[]) => {
        for (const write of writes) write();
      },
      // Customers' messages are keyed by a hash of their mid; messages igdm sent keep the id the
      // API gave them when queued, found through the outbox by the mid Meta assigned.
      rowId: (mid: string) => {
        const sent = q.sentByIgdm.get<{ messageId: string | null }>({ channelId, mid });
        if (sent) scope.sentByIgdm = true;
        return sent?.messageId ?? messageIdOf(channelId, mid);
      },
      earlyRow: (mid: string) => {
        const id = scope.rowId(mid);
        q.ensureMessage.run({ id, channelId, conversationId, mid, at, now });
        return id;
      },
      markSeen: () => this.#markSeen(conversationId, now),
    };
    return scope;
  }

  #ensureConversation(channelId: string, igsid: string, at: number): string {
    const id = conversationIdOf(channelId, igsid);
    if (this.#q.conversation.get({ id })) return id;
    const now = Date.now();
    const contactId = contactIdOf(channelId, igsid);
    this.#q.insertContact.run({ id: contactId, channelId, igsid, now });
    this.#q.insertConversation.run({ id, channelId, igsid, contactId, at: at || now, now });
    return id;
  }

  #markSeen(conversationId: string, now: number) {
    this.#q.markSeen.run({ conversationId, now });
  }
}

/** A conversation's source, as stored: the referral's ids, without the ad's details. */
const sourceOf = (r: Referral) =>
  JSON.stringify({
    ref: r.ref ?? null,
    source: r.source ?? null,
    type: r.type ?? null,
    adId: r.adId ?? null,
  });

/** The statements as the handlers use them on SQLite: a write runs at once, or when together() runs it. */
function handlerStatements(q: Statements): HandlerStatements<Write> {
  return Object.fromEntries(
    Object.entries(q).map(([name, p]) => [
      name,
      {
        later: (args: never) => p.run(args),
        write: (args: never) => () => p.run(args),
        get: (args: never) => p.get(args),
      },
    ]),
  ) as unknown as HandlerStatements<Write>;
}
