import { type GraphAnswer, paramError, unsupportedRequest } from './errors.ts';
import type { GraphCall } from './graph.ts';
import { newObjectId } from './ids.ts';
import type { KnownComment } from './state.ts';

// Comments on the account's media, as the Instagram Graph API manages them: a public reply
// (POST /{comment-id}/replies {message}), hiding and showing (POST /{comment-id}?hide=true|false) and
// deleting (DELETE /{comment-id}). Only comments the sandbox delivered (or made) exist.

/** Instagram's longest comment. */
const COMMENT_MAX = 2200;

function known(call: GraphCall): KnownComment | null {
  const c = call.state.comments.get(call.node);
  return c && !c.deleted ? c : null;
}

export function replyToComment(call: GraphCall): GraphAnswer {
  const parent = known(call);
  if (!parent) return unsupportedRequest(call.method, call.node);
  const message = call.params.message;
  if (typeof message !== 'string' || message.trim() === '')
    return paramError('(#100) The parameter message is required');
  if ([...message].length > COMMENT_MAX)
    return paramError(`(#100) A comment is at most ${COMMENT_MAX} characters`);
  const id = newObjectId();
  call.state.comments.set(id, {
    id,
    igsid: call.state.options.accountId,
    time: call.state.now(),
    text: message,
    mediaId: parent.mediaId,
    // Replies are one level deep: a reply to a reply goes under the top comment.
    parentId: parent.parentId ?? parent.id,
    repliedAt: null,
    hidden: false,
    deleted: false,
  });
  return { status: 200, body: { id } };
}

export function hideComment(call: GraphCall): GraphAnswer {
  const comment = known(call);
  if (!comment) return unsupportedRequest(call.method, call.node);
  const hide = call.params.hide;
  if (hide !== 'true' && hide !== 'false' && typeof hide !== 'boolean')
    return paramError('(#100) The parameter hide must be true or false');
  comment.hidden = hide === true || hide === 'true';
  return { status: 200, body: { success: true } };
}

export function deleteComment(call: GraphCall): GraphAnswer {
  const comment = known(call);
  if (!comment) return unsupportedRequest(call.method, call.node);
  comment.deleted = true;
  return { status: 200, body: { success: true } };
}
