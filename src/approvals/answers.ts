import type { Kysely } from 'kysely';
import { PolicyError, queueSend } from '../engine/outbox.ts';
import type { Logger } from '../log.ts';
import type { MessageEvent, PostbackEvent } from '../meta/events.ts';
import { type ContentInput, SendValidationError } from '../meta/send.ts';
import type { JobQueue } from '../queue/queue.ts';
import { type Approval, findApproval, pendingIn } from '../store/approvals.ts';
import type { Channel } from '../store/channels.ts';
import { messageIdOf } from '../store/ids.ts';
import type { Database } from '../store/schema.ts';
import type { StoredEvent } from '../store/webhook-events.ts';
import { decideApproval } from './decide.ts';
import { answerOf, replies, typedAnswer, whichOne } from './dm.ts';

// An approver's answer, in the engine's job for their event (one conversation at a time, in Meta's
// order). A quick-reply tap or a postback whose payload names an approval decides it, once, when it
// comes from the approver; the typed word "approve" or "reject" decides the approver's only pending
// approval (with several, igdm asks which, one quick reply each). An answer that changes nothing (not
// the approver's, a second one, too late, after a cancel) gets a short DM saying why; a payload
// naming no approval of this channel gets nothing. Answers never reach the rules or the AI.
//
// A job run again (a crash, a redelivery) finds the approval decided by its own event
// (`decidedBy`), and its reply is keyed by the event: the confirmation goes once.

export type AnswerResult =
  | 'approved'
  | 'rejected'
  | 'asked'
  | 'not_yours'
  | 'already_decided'
  | 'expired'
  | 'cancelled'
  | 'unknown';

export interface ApprovalOutcome {
  approval: { id: string | null; answer: AnswerResult; pending?: string[] };
  queued?: string[];
  refused?: { reason: string; message: string }[];
  silent: string;
}

export interface AnswerDeps {
  db: Kysely<Database>;
  jobs: Pick<JobQueue, 'enqueue' | 'wake'>;
  log: Logger;
  now: () => number;
}

const SILENT = 'an answer to an approval: never a rule trigger or an AI prompt';

type Answerable = MessageEvent | PostbackEvent;

export class ApprovalAnswers {
  readonly #d: AnswerDeps;

  constructor(deps: AnswerDeps) {
    this.#d = deps;
  }

  /** The event handled as an answer, or null when it is none (the automation takes it). */
  async answer(
    channel: Channel,
    row: StoredEvent,
    conversationId: string,
    event: Answerable,
  ): Promise<ApprovalOutcome | null> {
    const tapped = answerOf(event.kind === 'postback' ? event.payload : event.quickReplyPayload);
    if (tapped) {
      const a = await findApproval(this.#d.db, tapped.approvalId);
      const out = { row, channel, event };
      // Tampered with, or another channel's: nothing to say about it.
      if (!a || a.channelId !== channel.id)
        return { approval: { id: tapped.approvalId, answer: 'unknown' }, silent: SILENT };
      if (a.conversationId !== conversationId) {
        const o: ApprovalOutcome = { approval: { id: a.id, answer: 'not_yours' }, silent: SILENT };
        await this.#reply(out, o, { type: 'text', text: replies.notYours() }, null);
        return o;
      }
      return this.#decide(out, a, tapped.approve);
    }
    // Typed, not tapped: a tap on another quick reply (a rule's) is the rule's, whatever its text.
    const typed =
      event.kind === 'message' && event.quickReplyPayload === undefined ? typedAnswer(event.text) : null;
    if (typed === null) return null;
    // From anyone with nothing pending, the word is an ordinary message.
    const pending = await pendingIn(this.#d.db, conversationId, this.#d.now());
    if (pending.length === 0) return null;
    const out = { row, channel, event };
    if (pending.length === 1) return this.#decide(out, pending[0]!, typed);
    const o: ApprovalOutcome = {
      approval: { id: null, answer: 'asked', pending: pending.map((a) => a.id) },
      silent: SILENT,
    };
    await this.#reply(out, o, whichOne(typed, pending), null);
    return o;
  }

  async #decide(out: Answering, found: Approval, approve: boolean): Promise<ApprovalOutcome> {
    const { db, jobs } = this.#d;
    const now = this.#d.now();
    const cause = `event:${out.row.dedupKey}`;
    let a = found;
    if (a.status === 'pending') {
      const decision =
        a.expiresAt <= now
          ? { status: 'expired' as const, respondedBy: null, respondedAt: null, decidedBy: 'expiry' }
          : {
              status: approve ? ('approved' as const) : ('rejected' as const),
              respondedBy: out.event.igsid,
              respondedAt: out.event.timestamp,
              decidedBy: cause,
            };
      a = (await decideApproval(db, jobs, a.id, decision, now)) ?? (await findApproval(db, a.id)) ?? a;
    }
    // The answer (the approver's own message) belongs with its approval in the thread.
    if (out.event.mid) {
      await db
        .updateTable('messages')
        .set({ approvalId: a.id })
        .where('id', '=', messageIdOf(out.channel.id, out.event.mid))
        .execute();
    }
    let answer: AnswerResult;
    let text: string;
    if (a.decidedBy === cause) {
      // Decided by this answer (in this run of the job, or in one a crash cut short).
      answer = a.status === 'approved' ? 'approved' : 'rejected';
      text = replies.decided(a.status === 'approved', a.title);
    } else if (a.status === 'approved' || a.status === 'rejected') {
      answer = 'already_decided';
      text = replies.already(a.status, a.title);
    } else if (a.status === 'expired') {
      answer = 'expired';
      text = replies.expired(a.title);
    } else {
      answer = 'cancelled';
      text = replies.cancelled(a.title);
    }
    const o: ApprovalOutcome = { approval: { id: a.id, answer }, silent: SILENT };
    await this.#reply(out, o, { type: 'text', text }, a.id);
    return o;
  }

  /** igdm's DM to the person who answered: once per answer (its event is the cause). */
  async #reply(out: Answering, o: ApprovalOutcome, content: ContentInput, approvalId: string | null) {
    const { db, jobs, log } = this.#d;
    const causedBy = `${out.row.dedupKey}#approval`;
    try {
      const q = await queueSend(
        db,
        jobs,
        out.channel,
        {
          to: out.event.igsid!,
          content,
          causedBy,
          author: 'approval',
          ...(approvalId && { approvalId }),
        },
        this.#d.now(),
      );
      o.queued = [q.messageId ?? q.outboxId];
    } catch (err) {
      if (!(err instanceof PolicyError || err instanceof SendValidationError)) throw err;
      const reason = err instanceof PolicyError ? err.reason : 'invalid_content';
      o.refused = [{ reason, message: err.message }];
      log.warn({ causedBy, reason }, 'reply to an approval answer refused');
    }
  }
}

interface Answering {
  row: StoredEvent;
  channel: Channel;
  event: Answerable;
}
