import type { Kysely } from 'kysely';
import type { CommentEvent } from '../meta/events.ts';
import { SendValidationError } from '../meta/send.ts';
import type { JobQueue } from '../queue/queue.ts';
import type { Channel } from '../store/channels.ts';
import { claimPublicReply, findComment } from '../store/comments.ts';
import { commentIdOf } from '../store/ids.ts';
import type { Database } from '../store/schema.ts';
import type { AutomationConfig } from './automation/config.ts';
import { matchCommentRule, type ReplyVars, renderCommentText, renderReply } from './automation/rules.ts';
import { CommentActionError, replyPublicly } from './comments.ts';
import type { EventOutcome } from './engine.ts';
import { PolicyError, queueSend } from './outbox.ts';

// The engine's job for a comment ("comment LINK and we'll DM you"): the first comment rule that
// matches answers it, privately (a DM, queued like any send) and/or publicly (a reply under it).
// Both are keyed by the comment, not the delivery, so a comment is answered once however often
// Meta delivers it, and however often the job runs.

export interface CommentRuleDeps {
  db: Kysely<Database>;
  jobs: Pick<JobQueue, 'enqueue' | 'wake'>;
  now: () => number;
  graphTimeoutMs?: number;
  automation: AutomationConfig | null;
}

export async function answerComment(
  d: CommentRuleDeps,
  channel: Channel,
  event: CommentEvent,
): Promise<EventOutcome> {
  const out: EventOutcome = { kind: 'comment' };
  if (!d.automation) return { ...out, silent: 'no automation configured (IGDM_CONFIG)' };
  if (event.parentId !== undefined) return { ...out, silent: 'a reply to a comment' };
  const rule = matchCommentRule(d.automation, event);
  if (!rule) return { ...out, silent: 'no rule matched' };
  out.rule = rule.name;
  const vars: ReplyVars = { username: event.fromUsername ?? '', name: '', text: event.text ?? '' };
  const cause = `comment:${channel.id}:${event.commentId}#${rule.name}`;
  const refuse = (reason: string, message: string) => {
    out.refused = [...(out.refused ?? []), { reason, message }];
  };

  if (rule.privateReply) {
    try {
      const content = renderReply(rule.privateReply, vars);
      const q = await queueSend(
        d.db,
        d.jobs,
        channel,
        { commentId: event.commentId, content, causedBy: cause, author: 'bot' },
        d.now(),
      );
      out.queued = [q.messageId ?? q.outboxId];
    } catch (err) {
      if (!(err instanceof PolicyError || err instanceof SendValidationError)) throw err;
      refuse(err instanceof PolicyError ? err.reason : 'invalid_content', err.message);
    }
  }

  if (rule.publicReply !== undefined) {
    const comment = await findComment(d.db, commentIdOf(channel.id, event.commentId), [channel.id]);
    if (!comment) refuse('unknown_comment', `No comment "${event.commentId}"`);
    else if (!(await claimPublicReply(d.db, comment.id, cause))) out.publicReply = 'replied already';
    else {
      try {
        const reply = await replyPublicly(d, channel, comment, renderCommentText(rule.publicReply, vars));
        out.publicReply = reply.commentId;
      } catch (err) {
        // Not tried again: Meta may have posted it (a reply twice is worse than none).
        if (!(err instanceof CommentActionError)) throw err;
        refuse(err.reason, err.message);
      }
    }
  }
  return out;
}
