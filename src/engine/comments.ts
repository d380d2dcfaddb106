import type { Kysely } from 'kysely';
import { GraphClient, GraphError } from '../graph/client.ts';
import type { Channel } from '../store/channels.ts';
import { type Comment, insertReply, markCommentDeleted, setCommentHidden } from '../store/comments.ts';
import type { Database } from '../store/schema.ts';

// What igdm does to a comment through the Graph API (the API's routes and the automation's public
// replies): a public reply (POST /{comment-id}/replies), hide or show (POST /{comment-id}?hide=),
// delete (DELETE /{comment-id}). Meta is asked first; igdm's record follows what Meta accepted.

/** Meta refused (or may not have done) what was asked: its reason (graph-errors.ts) and message. */
export class CommentActionError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface CommentDeps {
  db: Kysely<Database>;
  now: () => number;
  graphTimeoutMs?: number;
}

async function ask<T>(deps: CommentDeps, channel: Channel, f: (g: GraphClient) => Promise<T>): Promise<T> {
  try {
    return await f(new GraphClient(channel, { timeoutMs: deps.graphTimeoutMs }));
  } catch (err) {
    if (err instanceof GraphError) throw new CommentActionError(err.failure.reason, err.failure.message);
    throw err;
  }
}

/** A public reply under the comment, kept as a comment of the account's (source `reply`). */
export async function replyPublicly(
  deps: CommentDeps,
  channel: Channel,
  comment: Comment,
  text: string,
): Promise<Comment> {
  const id = await ask(deps, channel, (g) => g.replyToComment(comment.commentId, text));
  return insertReply(deps.db, comment, { commentId: id, accountId: channel.accountId, text, at: deps.now() });
}

export async function hideComment(deps: CommentDeps, channel: Channel, comment: Comment, hidden: boolean) {
  await ask(deps, channel, (g) => g.hideComment(comment.commentId, hidden));
  await setCommentHidden(deps.db, comment.id, hidden);
}

export async function deleteComment(deps: CommentDeps, channel: Channel, comment: Comment) {
  await ask(deps, channel, (g) => g.deleteComment(comment.commentId));
  await markCommentDeleted(deps.db, comment.id, deps.now());
}
