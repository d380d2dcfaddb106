import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { sameSecret } from '../meta/signature.ts';
import { spoilAnswer } from './answer-faults.ts';
import {
  type GraphAnswer,
  paramError,
  tokenExpired,
  tokenMissing,
  unknownError,
  unknownPath,
  unsupportedRequest,
} from './errors.ts';
import { failureAnswer, isAfterDelivery, resetConnection } from './failures.ts';
import {
  deleteMessengerProfile,
  deleteSubscribedApps,
  getMessengerProfile,
  getSubscribedApps,
  getThreadOwner,
  postMessageAttachment,
  postMessengerProfile,
  postSubscribedApps,
  threadControl,
} from './graph-account.ts';
import { deleteComment, hideComment, replyToComment } from './graph-comments.ts';
import { debugToken, getConversations, getNode } from './graph-nodes.ts';
import { sendMessage } from './graph-send.ts';
import { refreshAccessToken } from './graph-token.ts';
import { appUsageHeader } from './rate-limit.ts';
import type { SandboxState } from './state.ts';
import { metaJson } from './wire.ts';

// The emulated Graph API, mounted at <prefix>/graph so a channel's Graph base URL can be
// http://host:port/sandbox/graph and clients call ${base}/v24.0/${id}/messages. Every call goes
// through the same steps as at Meta: an injected failure if one is pending, the API version, the
// access token, the parameters (query and body, JSON or form-encoded), the node, then the edge.
// Every answer carries x-app-usage and Meta's JSON escaping.

export interface GraphCall {
  state: SandboxState;
  req: FastifyRequest;
  method: string;
  version: string;
  /** The node in the path ("me", an account id, an IGSID, a mid, ...). */
  node: string;
  /** What is called: messages, messenger_profile, ..., "node" for GET /{id}. */
  edge: string;
  /** Query and body parameters merged (JSON-looking values parsed), without access_token. */
  params: Record<string, unknown>;
  /** False when an injected failure loses the echo webhook of a message this call sends. */
  echo: boolean;
}

export type GraphHandler = (call: GraphCall) => GraphAnswer | Promise<GraphAnswer>;

interface RouteOptions {
  /** The node must be the account: "me", the IG account id or the linked Page id. */
  accountNode?: boolean;
  /** An app token (app_id|app_secret) is accepted too (debug_token). */
  appToken?: boolean;
  /** A larger body than the sandbox's default (a file upload). */
  bodyLimit?: number;
  /** Called without an API version in the path (refresh_access_token). */
  unversioned?: boolean;
}

const VERSION = /^v\d+\.\d+$/;

export async function graphRoutes(app: FastifyInstance, opts: { state: SandboxState }) {
  const { state } = opts;
  const o = state.options;

  /** The path below the Graph root, without the query (which may hold the token). */
  const pathOf = (req: FastifyRequest) => req.url.split('?')[0]!.slice(app.prefix.length) || '/';
  const usage = () => appUsageHeader(state.limiter.usage(state.now()));

  app.setReplySerializer((payload) => metaJson(payload));
  // Fastify's own errors (a body over the limit, ...) and bugs, in Meta's shape.
  app.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) => {
    const client = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500;
    const a = client ? paramError(err.message) : unknownError();
    return reply
      .code(client ? err.statusCode! : a.status)
      .header('x-app-usage', usage())
      .send(a.body);
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(400)
      .header('x-app-usage', usage())
      .send(unknownPath(pathOf(req)).body),
  );

  const tokenOf = (req: FastifyRequest, params: Record<string, unknown>): string | null => {
    const auth = req.headers.authorization;
    const m = auth ? /^(?:bearer|oauth)\s+(.+)$/i.exec(auth.trim()) : null;
    if (m) return m[1]!.trim();
    return typeof params.access_token === 'string' && params.access_token ? params.access_token : null;
  };

  const isAccount = (node: string) => node === 'me' || node === o.accountId || node === o.pageId;

  async function handle(
    req: FastifyRequest,
    reply: FastifyReply,
    edge: string,
    handler: GraphHandler,
    ro: RouteOptions,
  ) {
    const now = state.now();
    const { version, node } = req.params as { version: string; node?: string };
    const path = pathOf(req);
    const read = await readParams(req);
    const params = read.ok ? read.params : {};
    const token = tokenOf(req, params);
    delete params.access_token;

    const record = (status: number | null, body: unknown, failure: string | null) => {
      const call = state.calls.add({ time: now, method: req.method, path, edge, status, failure });
      if (edge !== 'messages') return call;
      const b = (body ?? {}) as { message_id?: string; recipient_id?: string };
      const r = params.recipient as { id?: unknown } | undefined;
      state.outbox.add({
        time: now,
        method: req.method,
        path,
        body: params,
        answer: { status, body: body ?? null },
        messageId: typeof b.message_id === 'string' ? b.message_id : null,
        recipientId: b.recipient_id ?? (r && typeof r.id === 'string' ? r.id : null),
        failure,
      });
      return call;
    };
    const failure = state.failures.take(edge);
    // An after-delivery failure lets the call run and spoils only its answer (answer-faults.ts).
    const spoil = failure && isAfterDelivery(failure.kind) ? failure : null;
    const send = async (a: GraphAnswer, failure: string | null) => {
      const call = record(a.status, a.body, failure);
      const usageHeader = appUsageHeader(state.limiter.usage(now));
      if (spoil) {
        call.answer = await spoilAnswer(reply, a, spoil, {
          held: state.held,
          timeoutHoldMs: o.timeoutHoldMs,
          headers: { 'x-app-usage': usageHeader },
        });
        return;
      }
      reply.code(a.status).header('x-app-usage', usageHeader);
      for (const [k, v] of Object.entries(a.headers ?? {})) reply.header(k, v);
      return a.body === undefined ? reply.send() : reply.send(a.body);
    };

    if (failure && !spoil) {
      const a = failureAnswer(failure, { accountId: o.accountId, now });
      if (a === 'timeout') {
        record(null, null, a);
        return state.held.hold(reply, o.timeoutHoldMs);
      }
      if (a === 'network_reset') {
        record(null, null, a);
        return resetConnection(reply);
      }
      return send(a, failure.kind);
    }
    const spoiled = spoil?.kind ?? null;
    if (!ro.unversioned && !VERSION.test(version)) return send(unknownPath(path), spoiled);
    if (token === null) return send(tokenMissing(), spoiled);
    // The account's token until it expires (60 days after its issue or last refresh).
    const tokenOk =
      (sameSecret(token, o.accessToken) && (!o.expireTokens || now < state.token.expiresAt)) ||
      (ro.appToken === true && sameSecret(token, `${o.appId}|${o.appSecret}`));
    if (!tokenOk) return send(tokenExpired(now), spoiled);
    if (!read.ok) return send(read.error, spoiled);
    if (ro.accountNode && node !== undefined && !isAccount(node))
      return send(unsupportedRequest(req.method, node), spoiled);
    const echo = spoil?.echo !== false;
    const answer = await handler({
      state,
      req,
      method: req.method,
      version: version ?? '',
      node: node ?? '',
      edge,
      params,
      echo,
    });
    return send(answer, spoiled);
  }

  const route = (
    method: HTTPMethods,
    url: string,
    edge: string,
    handler: GraphHandler,
    ro: RouteOptions = {},
  ) =>
    app.route({
      method,
      url,
      ...(ro.bodyLimit !== undefined && { bodyLimit: ro.bodyLimit }),
      handler: (req, reply) => handle(req, reply, edge, handler, ro),
    });
  const account = { accountNode: true };

  route('POST', '/:version/:node/messages', 'messages', sendMessage, account);
  route('GET', '/:version/:node/messenger_profile', 'messenger_profile', getMessengerProfile, account);
  route('POST', '/:version/:node/messenger_profile', 'messenger_profile', postMessengerProfile, account);
  route('DELETE', '/:version/:node/messenger_profile', 'messenger_profile', deleteMessengerProfile, account);
  route('POST', '/:version/:node/message_attachments', 'message_attachments', postMessageAttachment, {
    ...account,
    bodyLimit: UPLOAD_BODY_LIMIT,
  });
  route('GET', '/:version/:node/subscribed_apps', 'subscribed_apps', getSubscribedApps, account);
  route('POST', '/:version/:node/subscribed_apps', 'subscribed_apps', postSubscribedApps, account);
  route('DELETE', '/:version/:node/subscribed_apps', 'subscribed_apps', deleteSubscribedApps, account);
  for (const action of ['pass', 'take', 'release', 'request']) {
    const edge = `${action}_thread_control`;
    route('POST', `/:version/:node/${edge}`, edge, threadControl, account);
  }
  route('GET', '/:version/:node/thread_owner', 'thread_owner', getThreadOwner, account);
  route('GET', '/:version/:node/conversations', 'conversations', getConversations, account);
  route('GET', '/:version/debug_token', 'debug_token', debugToken, { appToken: true });
  route('GET', '/refresh_access_token', 'refresh_access_token', refreshAccessToken, { unversioned: true });
  route('GET', '/:version/:node', 'node', getNode);
  route('POST', '/:version/:node/replies', 'replies', replyToComment);
  route('POST', '/:version/:node', 'node', hideComment);
  route('DELETE', '/:version/:node', 'node', deleteComment);
}

/** A file upload: Meta's largest file (25 MB) and the rest of the multipart form. */
const UPLOAD_BODY_LIMIT = 26 * 1024 * 1024;

type Params = { ok: true; params: Record<string, unknown> } | { ok: false; error: GraphAnswer };

/**
 * Graph parameters: the query, then the body (JSON, form-encoded or multipart); JSON-looking values
 * parsed. A multipart form's files stay Blobs (File), under their field's name.
 */
export async function readParams(req: FastifyRequest): Promise<Params> {
  const params: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((req.query ?? {}) as Record<string, string | string[]>)) {
    params[k] = decode(Array.isArray(v) ? v[v.length - 1] : v);
  }
  const raw = req.body;
  const type = String(req.headers['content-type'] ?? '');
  if (type.includes('multipart/form-data') && Buffer.isBuffer(raw) && raw.length > 0) {
    let form: FormData;
    try {
      form = await new Response(new Uint8Array(raw), { headers: { 'content-type': type } }).formData();
    } catch {
      return { ok: false, error: paramError('The request body is not a valid multipart form') };
    }
    for (const [k, v] of form) params[k] = typeof v === 'string' ? decode(v) : v;
    return { ok: true, params };
  }
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : typeof raw === 'string' ? raw : '';
  if (text.trim() === '') return { ok: true, params };
  if (type.includes('application/x-www-form-urlencoded')) {
    for (const [k, v] of new URLSearchParams(text)) params[k] = decode(v);
    return { ok: true, params };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, error: paramError('The request body is not valid JSON') };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, error: paramError('The request body must be a JSON object') };
  return { ok: true, params: { ...params, ...(body as Record<string, unknown>) } };
}

function decode(v: string | undefined): unknown {
  if (v === undefined) return undefined;
  const t = v.trim();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return JSON.parse(t);
    } catch {
      return v;
    }
  }
  return v;
}
