import { format } from 'node:util';
import type { FastifyReply } from 'fastify';
import type { PolicyRefusal } from '../meta/policy.ts';

// Every error the API answers, defined once (as Fastify's lib/errors.js): its code, its HTTP status
// and its message, a template whose %s are filled in order. Routes throw them and the app's error
// handler answers; hooks, which may run under another plugin's error handler, reply with them. The
// answer has one shape: { "error": { "code", "message" } }, plus "issues" for invalid content.

export class ApiError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly issues?: readonly unknown[];

  constructor(code: string, statusCode: number, message: string, issues?: readonly unknown[]) {
    super(message);
    this.code = code;
    this.statusCode = statusCode;
    if (issues) this.issues = issues;
  }

  /** The answer's body. */
  body() {
    return { error: { code: this.code, message: this.message, ...(this.issues && { issues: this.issues }) } };
  }
}

type Arg = string | number;

/** An error with one code. */
const define =
  (code: string, statusCode: number, template: string) =>
  (...args: Arg[]) =>
    new ApiError(code, statusCode, format(template, ...args));

/** Errors whose code comes from the domain (a policy refusal, Meta's reason): one status for all. */
const family =
  <Code extends string>(statusCode: number, template: string) =>
  (code: Code, ...args: Arg[]) =>
    new ApiError(code, statusCode, format(template, ...args));

export const errors = {
  // The request
  /** What Node's HTTP parser refused. */
  malformedRequest: define('bad_request', 400, 'The request is not valid HTTP/1.1'),
  invalidRequest: define('invalid_request', 400, '%s'),
  invalidQuery: define('invalid_query', 400, '%s'),
  invalidCursor: define('invalid_cursor', 400, 'cursor is not one this API returned'),
  invalidJobId: define('invalid_request', 400, 'the job id is a number'),
  unauthorized: define('unauthorized', 401, 'Send the API key as "Authorization: Bearer <IGDM_API_KEY>"'),
  forbidden: define('forbidden', 403, 'This API key does not have the "%s" scope'),
  allChannelsOnly: define(
    'forbidden',
    403,
    'This API key sees only some channels; %s %s needs a key that sees every channel',
  ),
  scopeNotHeld: define('forbidden', 403, 'An API key cannot give a scope it does not have: "%s"'),
  routeNotFound: define('not_found', 404, 'No route %s %s'),
  requestTimeout: define('request_timeout', 408, 'The request did not arrive in time'),
  bodyTooLarge: define('body_too_large', 413, '%s'),
  chunkExtensionsTooLarge: define('chunk_extensions_too_large', 413, 'The chunk extensions are too large'),
  headersTooLarge: define('headers_too_large', 431, 'The request headers are too large'),
  /** Whatever failed inside igdm (logged, never told). */
  internal: (statusCode = 500) => new ApiError('internal_error', statusCode, 'Internal error'),

  // What the request names
  conversationNotFound: define('conversation_not_found', 404, 'No conversation "%s"'),
  contactNotFound: define('contact_not_found', 404, 'No contact "%s"'),
  messageNotFound: define('message_not_found', 404, 'No message "%s"'),
  mediaNotFound: define('media_not_found', 404, 'No kept copy of media "%s"'),
  channelNotFound: define('channel_not_found', 404, 'No channel "%s"'),
  jobNotFound: define('job_not_found', 404, 'No job %s'),
  apiKeyNotFound: define('api_key_not_found', 404, 'No API key "%s" in force'),
  webhookEndpointNotFound: define('webhook_endpoint_not_found', 404, 'No webhook endpoint "%s"'),
  deliveryNotFound: define('delivery_not_found', 404, 'No webhook delivery "%s"'),
  savedReplyNotFound: define('saved_reply_not_found', 404, 'No saved reply "%s"'),
  commentNotFound: define('comment_not_found', 404, 'No comment "%s"'),
  approvalNotFound: define('approval_not_found', 404, 'No approval "%s"'),
  approvalDecided: define('approval_decided', 409, 'Approval %s is %s: only a pending approval is cancelled'),
  commentDeleted: define('comment_deleted', 409, 'Comment %s was deleted'),
  savedReplyExists: define('saved_reply_exists', 409, 'A saved reply has the shortcut "%s"'),
  messageNotFailed: define(
    'message_not_failed',
    409,
    'Message %s is %s; only failed outbound messages are retried',
  ),
  jobNotDead: define('job_not_dead', 409, 'Job %s is %s; only dead jobs are retried'),
  contactBusy: define(
    'contact_busy',
    409,
    'Contact %s cannot be erased while %s; try again in a few seconds',
  ),

  // Sends and channel settings
  invalidContent: (message: string, issues: readonly unknown[]) =>
    new ApiError('invalid_content', 422, message, issues),
  /** The messaging policy refuses the send (never_messaged, outside_window ...). */
  sendRefused: family<PolicyRefusal | 'unknown_comment'>(422, '%s'),
  invalidIceBreakers: define('invalid_ice_breakers', 422, '%s'),
  /** The approver's 24-hour window is closed, or never opened: the approval DM cannot go. */
  approvalOutsideWindow: define('outside_window', 422, '%s'),
  /** The approval DM cannot fit Meta's 1000 bytes even with its values cut short. */
  approvalTooLong: define('approval_too_long', 422, '%s'),
  channelExists: define(
    'channel_exists',
    409,
    'Channel "%s" exists (or existed: a deleted channel keeps its id for its history)',
  ),
  accountInUse: define('account_in_use', 409, 'Account %s is connected as channel "%s"'),
  environmentChannel: define(
    'default_channel',
    409,
    'Channel "%s" comes from the environment: it is removed by removing its variables (META_APP_SECRET, INSTAGRAM_USER_ID, ...), not through the API',
  ),
  /** Meta refused the ice breakers (its reason: token_expired ...). */
  iceBreakersRefused: family<string>(502, 'Meta refused the ice breakers: %s'),
  /** Meta refused a public reply, hiding or deleting a comment (its reason: token_expired ...). */
  commentActionRefused: family<string>(502, 'Meta refused: %s'),
  /** Meta did not take an uploaded file (its reason: token_invalid, invalid_parameter, timeout ...). */
  uploadRefused: family<string>(502, 'Meta did not take the file: %s'),

  // Webhooks
  invalidUtf8: define('invalid_utf8', 400, 'The body is not valid UTF-8'),
  /** A body that is not JSON (a webhook's, or an API request's). */
  malformedJson: define('malformed_json', 400, '%s'),
  signatureMissing: define('signature_missing', 401, 'X-Hub-Signature-256 header is missing'),
  signatureInvalid: define('signature_invalid', 403, 'The signature does not match the body'),
  signedRequestInvalid: define('signed_request_invalid', 400, 'signed_request %s'),
  deletionRequestNotFound: define('not_found', 404, 'No data deletion request %s'),
  verificationFailed: define('verification_failed', 403, 'hub.mode or hub.verify_token does not match'),
  storeUnavailable: define('store_unavailable', 503, 'The event could not be stored; retry later'),
};

/**
 * The answer to an error a route or Fastify threw: a catalog entry as it is; a body that is not
 * JSON as `malformed_json`; Fastify's other errors with their code and message; anything else an
 * internal error. (A request its route's schema refused is schema-errors.ts's.)
 */
export function answerOf(err: { statusCode?: number; code?: string; message: string }): ApiError {
  if (err instanceof ApiError) return err;
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
  if (status === 413) return errors.bodyTooLarge(err.message);
  // Fastify's JSON parser refused the body: igdm's code for it, not Fastify's.
  if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY')
    return errors.malformedJson(err.message);
  if (status >= 500) return errors.internal(status);
  return new ApiError(err.code ?? 'bad_request', status, err.message);
}

export function replyError(reply: FastifyReply, err: ApiError) {
  return reply.code(err.statusCode).type('application/json').send(err.body());
}
