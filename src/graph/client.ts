import { channel } from 'node:diagnostics_channel';
import { type Answer, RequestFailed, request } from '../http-client.ts';
import { ambiguous, classifyGraphError, type GraphFailure } from '../meta/graph-errors.ts';
import type { SendBody } from '../meta/send.ts';
import type { UploadType } from '../meta/uploads.ts';

// The HTTP client for Meta's Graph API (graph.instagram.com with Instagram Login, graph.facebook.com
// with a Page token, or igdm's sandbox). One call, one request with a timeout; what a failure
// means (retry, throttle, reauthorise, give up, or ambiguous: Meta may have acted on it) comes from
// meta/graph-errors.ts, and the outbox decides what to do about it. A successful answer must be
// JSON that can be read: anything else (empty, cut off, an HTML page) leaves the outcome unknown.

export interface GraphTarget {
  graphApiUrl: string;
  graphApiVersion: string;
  accessToken: string | null;
  /** The Instagram professional account id (Instagram Login). */
  accountId: string | null;
  /** The linked Page id (Facebook Login). */
  pageId: string | null;
}

/** A call's options (GraphClient.call). */
interface CallOptions {
  query?: Query;
  body?: unknown;
  form?: FormData;
  timeoutMs?: number;
  /** Called without the API version (refresh_access_token takes none). */
  unversioned?: boolean;
  /** Another token than the channel's (an app token for debug_token). */
  token?: string;
}

/** What a call was for, as GET /metrics counts calls (igdm_graph_*{operation}). */
export type GraphOperation =
  | 'send'
  | 'upload'
  | 'profile'
  | 'conversations'
  | 'token'
  | 'messenger_profile'
  | 'handover'
  | 'subscription'
  | 'comments'
  | 'account';

/** Published on GRAPH_CALLS once each call has its answer (or failed), for the metrics (metrics.ts). */
export interface GraphCall {
  target: GraphTarget;
  operation: GraphOperation;
  ms: number;
  failure: GraphFailure | null;
}
export const GRAPH_CALLS = 'igdm:graph-call';
const calls = channel(GRAPH_CALLS);

export class GraphError extends Error {
  readonly failure: GraphFailure;
  constructor(failure: GraphFailure) {
    super(failure.message);
    this.failure = failure;
  }
}

export interface GraphResponse<T> {
  data: T;
  /** The usage headers Meta sends with every answer (x-app-usage, x-business-use-case-usage). */
  headers: Record<string, string | undefined>;
}

type Query = Record<string, string | number | boolean | undefined>;

/** A file for the Attachment Upload API. */
export interface AttachmentFile {
  type: UploadType;
  bytes: Uint8Array;
  /** Its MIME type. */
  contentType: string;
  filename: string;
}

export interface Profile {
  id?: string;
  name?: string;
  username?: string;
  profile_pic?: string;
  follower_count?: number;
  is_user_follow_business?: boolean;
  is_business_follow_user?: boolean;
  is_verified_user?: boolean;
}

export interface IceBreaker {
  question: string;
  payload: string;
}

/** A message as the Conversations API gives it. */
export interface ConversationMessage {
  from?: { id?: string };
  message?: string;
  created_time?: string;
}

export const PROFILE_FIELDS =
  'name,username,profile_pic,follower_count,is_user_follow_business,is_business_follow_user,is_verified_user';

export class GraphClient {
  readonly #target: GraphTarget;
  readonly #timeoutMs: number;

  constructor(target: GraphTarget, options: { timeoutMs?: number } = {}) {
    this.#target = target;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** The base URL with its version: a version already in the configured URL wins. */
  get base(): string {
    const url = this.#target.graphApiUrl.replace(/\/+$/, '');
    return /\/v\d+\.\d+$/.test(url) ? url : `${url}/${this.#target.graphApiVersion}`;
  }

  /** The node that sends: the Page with Facebook Login, the IG account with Instagram Login. */
  get sender(): string {
    const t = this.#target;
    if (t.pageId && /graph\.facebook\.com/.test(t.graphApiUrl)) return t.pageId;
    return t.accountId ?? t.pageId ?? 'me';
  }

  /**
   * One call. `body` goes as JSON; `form` as multipart/form-data (a file upload), in which case the
   * call may take `timeoutMs` instead of the client's timeout.
   */
  async call<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    opts: CallOptions & { operation: GraphOperation },
  ): Promise<GraphResponse<T>> {
    if (!calls.hasSubscribers) return this.#call<T>(method, path, opts);
    const started = performance.now();
    let failure: GraphFailure | null = null;
    try {
      return await this.#call<T>(method, path, opts);
    } catch (err) {
      failure = err instanceof GraphError ? err.failure : ambiguous('error', (err as Error).message);
      throw err;
    } finally {
      const call: GraphCall = {
        target: this.#target,
        operation: opts.operation,
        ms: performance.now() - started,
        failure,
      };
      calls.publish(call);
    }
  }

  async #call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, opts: CallOptions) {
    const base = opts.unversioned
      ? this.#target.graphApiUrl.replace(/\/+$/, '').replace(/\/v\d+\.\d+$/, '')
      : this.base;
    const url = new URL(`${base}/${path.replace(/^\/+/, '')}`);
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json' };
    const token = opts.token ?? this.#target.accessToken;
    if (token) headers.authorization = `Bearer ${token}`;
    let sent: string | Uint8Array | undefined;
    if (opts.form) {
      // Encoded by the platform (boundary, quoted names): Response does it as fetch would.
      const encoded = new Response(opts.form);
      headers['content-type'] = encoded.headers.get('content-type')!;
      sent = new Uint8Array(await encoded.arrayBuffer());
    } else if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      sent = JSON.stringify(opts.body);
    }

    let res: Answer;
    try {
      res = await request(url, {
        method,
        headers,
        body: sent,
        signal: AbortSignal.timeout(opts.timeoutMs ?? this.#timeoutMs),
      });
    } catch (err) {
      if (!(err instanceof RequestFailed)) throw err;
      if (err.failure === 'answer_too_large')
        throw new GraphError(ambiguous('answer_too_large', `Graph API answer not read: ${err.message}`));
      throw new GraphError(
        classifyGraphError({ status: null, timedOut: err.failure === 'timeout', sent: err.sent }),
      );
    }
    const responseHeaders = res.headers;
    const text = res.text;
    let body: unknown = text;
    let json = false;
    try {
      body = text ? JSON.parse(text) : undefined;
      json = text !== '';
    } catch {
      // not JSON: kept as text for the classification
    }
    if (
      res.status < 200 ||
      res.status > 299 ||
      (typeof body === 'object' && body !== null && 'error' in body)
    ) {
      throw new GraphError(classifyGraphError({ status: res.status, body, headers: responseHeaders }));
    }
    if (!json) {
      throw new GraphError(
        ambiguous('unreadable_answer', `Graph API answered HTTP ${res.status} with a body that is not JSON`),
      );
    }
    return { data: body as T, headers: responseHeaders } satisfies GraphResponse<T>;
  }

  /**
   * POST /{sender}/messages: returns Meta's message id (none for sender actions). A message answered
   * without one may or may not have been sent: ambiguous.
   */
  async sendMessage(
    body: SendBody,
  ): Promise<{ recipientId?: string; messageId?: string; headers: GraphResponse<unknown>['headers'] }> {
    const r = await this.call<{ recipient_id?: unknown; message_id?: unknown } | null>(
      'POST',
      `${this.sender}/messages`,
      { operation: 'send', body },
    );
    const messageId = typeof r.data?.message_id === 'string' ? r.data.message_id : undefined;
    if (body.message !== undefined && !messageId)
      throw new GraphError(ambiguous('no_message_id', 'Graph API accepted the message without a message id'));
    const recipientId = typeof r.data?.recipient_id === 'string' ? r.data.recipient_id : undefined;
    return { recipientId, messageId, headers: r.headers };
  }

  /**
   * A new long-lived Instagram token for the channel's (which must be at least 24 h old and not
   * expired): GET graph.instagram.com/refresh_access_token, which takes no API version; the token
   * goes in the query, as Meta documents it (and in the Authorization header, as on every call).
   */
  async refreshAccessToken(): Promise<{ accessToken: string; expiresInSeconds: number | null }> {
    const r = await this.call<{ access_token?: unknown; expires_in?: unknown }>(
      'GET',
      'refresh_access_token',
      {
        operation: 'token',
        query: { grant_type: 'ig_refresh_token', access_token: this.#target.accessToken ?? '' },
        unversioned: true,
      },
    );
    if (typeof r.data.access_token !== 'string' || r.data.access_token === '')
      throw new GraphError(ambiguous('no_access_token', 'refresh_access_token answered without a token'));
    const expires = Number(r.data.expires_in);
    return {
      accessToken: r.data.access_token,
      expiresInSeconds: Number.isFinite(expires) && expires > 0 ? expires : null,
    };
  }

  /**
   * debug_token for the channel's token, asked with the app token (app id|app secret): when it
   * expires (ms; 0: never; null: not said) and whether it is valid.
   */
  async debugToken(appId: string, appSecret: string): Promise<{ valid: boolean; expiresAt: number | null }> {
    const r = await this.call<{ data?: { is_valid?: unknown; expires_at?: unknown } }>('GET', 'debug_token', {
      operation: 'token',
      query: { input_token: this.#target.accessToken ?? '' },
      token: `${appId}|${appSecret}`,
    });
    const expires = Number(r.data.data?.expires_at);
    return {
      valid: r.data.data?.is_valid === true,
      expiresAt: Number.isFinite(expires) && expires >= 0 ? expires * 1000 : null,
    };
  }

  /** A customer's profile (only after they have written; else code 230). */
  async profile(igsid: string): Promise<Profile> {
    return (
      await this.call<Profile>('GET', encodeURIComponent(igsid), {
        operation: 'profile',
        query: { fields: PROFILE_FIELDS },
      })
    ).data;
  }

  /** The story of a story mention, once the CDN URL has expired. */
  async story(mid: string): Promise<{ story?: { mention?: { link?: string; id?: string } } }> {
    return (
      await this.call<{ story?: { mention?: { link?: string; id?: string } } }>(
        'GET',
        encodeURIComponent(mid),
        { operation: 'conversations', query: { fields: 'story' } },
      )
    ).data;
  }

  async setIceBreakers(iceBreakers: IceBreaker[]): Promise<void> {
    await this.call('POST', 'me/messenger_profile', {
      operation: 'messenger_profile',
      query: { platform: 'instagram' },
      body: { platform: 'instagram', ice_breakers: [{ locale: 'default', call_to_actions: iceBreakers }] },
    });
  }

  async deleteIceBreakers(): Promise<void> {
    await this.call('DELETE', 'me/messenger_profile', {
      operation: 'messenger_profile',
      query: { platform: 'instagram' },
      body: { fields: ['ice_breakers'] },
    });
  }

  async setPersistentMenu(menu: unknown[]): Promise<void> {
    await this.call('POST', 'me/messenger_profile', {
      operation: 'messenger_profile',
      query: { platform: 'instagram' },
      body: { platform: 'instagram', persistent_menu: menu },
    });
  }

  /** Conversation routing (the Handover Protocol's calls; Meta keeps them compatible). */
  async routing(
    action: 'pass' | 'take' | 'release' | 'request',
    igsid: string,
    opts: { targetAppId?: string; metadata?: string } = {},
  ) {
    await this.call('POST', `me/${action}_thread_control`, {
      operation: 'handover',
      body: {
        recipient: { id: igsid },
        ...(opts.targetAppId && { target_app_id: opts.targetAppId }),
        ...(opts.metadata && { metadata: opts.metadata }),
      },
    });
  }

  async threadOwner(igsid: string): Promise<string | null> {
    const r = await this.call<{ data?: { thread_owner?: { app_id?: string } }[] }>('GET', 'me/thread_owner', {
      operation: 'handover',
      query: { recipient: igsid },
    });
    return r.data?.data?.[0]?.thread_owner?.app_id ?? null;
  }

  /** The Conversations API: the id of the conversation with a customer (null: none). */
  async conversationWith(igsid: string): Promise<string | null> {
    const r = await this.call<{ data?: { id?: string }[] }>('GET', `${this.sender}/conversations`, {
      operation: 'conversations',
      query: { platform: 'instagram', user_id: igsid },
    });
    return r.data?.data?.[0]?.id ?? null;
  }

  /** A conversation's messages, newest first (Meta gives the 20 newest): ids and times. */
  async conversationMessages(conversationId: string): Promise<{ id: string; createdTime: number }[]> {
    const r = await this.call<{ messages?: { data?: { id?: string; created_time?: string }[] } }>(
      'GET',
      encodeURIComponent(conversationId),
      { operation: 'conversations', query: { fields: 'messages' } },
    );
    return (r.data?.messages?.data ?? []).flatMap((m) =>
      typeof m.id === 'string' ? [{ id: m.id, createdTime: Date.parse(m.created_time ?? '') }] : [],
    );
  }

  /** One message of a conversation: who sent it, and its text (empty for an attachment). */
  async message(mid: string): Promise<ConversationMessage> {
    const fields = 'id,created_time,from,message';
    return (
      await this.call<ConversationMessage>('GET', encodeURIComponent(mid), {
        operation: 'conversations',
        query: { fields },
      })
    ).data;
  }

  /** Uploads media once, for sending many times by attachment id. */
  async uploadAttachment(type: 'image' | 'video' | 'audio' | 'file', url: string): Promise<string> {
    const r = await this.call<{ attachment_id: string }>('POST', `${this.sender}/message_attachments`, {
      operation: 'upload',
      body: { platform: 'instagram', message: { attachment: { type, payload: { url, is_reusable: true } } } },
    });
    return r.data.attachment_id;
  }

  /**
   * Uploads a file's bytes (meta/uploads.ts): Meta's "upload from a server", a multipart form of
   * `platform=instagram`, `message={"attachment":{"type","payload":{"is_reusable":true}}}` and
   * `filedata` (the file, with its name and MIME type), as the Messenger Platform's Attachment
   * Upload API reference shows it (`-F 'filedata=@/tmp/shirt.png;type=image/png'`). Meta documents
   * it on the Page (Facebook Login, graph.facebook.com, a Page token); with Instagram Login it goes
   * to the IG account on graph.instagram.com like the URL upload above (unverified: Meta's
   * Instagram Login pages document only sends by URL). A success without an id is unreadable.
   */
  async uploadAttachmentFile(file: AttachmentFile, opts: { timeoutMs?: number } = {}): Promise<string> {
    const form = new FormData();
    form.set('platform', 'instagram');
    form.set('message', JSON.stringify({ attachment: { type: file.type, payload: { is_reusable: true } } }));
    form.set('filedata', new Blob([file.bytes], { type: file.contentType }), file.filename);
    const r = await this.call<{ attachment_id?: unknown } | null>(
      'POST',
      `${this.sender}/message_attachments`,
      { operation: 'upload', form, ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }) },
    );
    const id = r.data?.attachment_id;
    if (typeof id === 'string' && id !== '') return id;
    if (typeof id === 'number') return String(id);
    throw new GraphError(
      ambiguous('no_attachment_id', 'Graph API accepted the upload without an attachment id'),
    );
  }

  async subscribe(fields: string[]): Promise<void> {
    await this.call('POST', `${this.sender}/subscribed_apps`, {
      operation: 'subscription',
      query: { subscribed_fields: fields.join(',') },
    });
  }

  async subscriptions(): Promise<unknown> {
    return (await this.call('GET', `${this.sender}/subscribed_apps`, { operation: 'subscription' })).data;
  }

  /** A public reply under a comment (POST /{comment-id}/replies): the new comment's id. */
  async replyToComment(commentId: string, message: string): Promise<string> {
    const r = await this.call<{ id?: unknown } | null>('POST', `${encodeURIComponent(commentId)}/replies`, {
      operation: 'comments',
      body: { message },
    });
    const id = r.data?.id;
    if (typeof id === 'string' && id !== '') return id;
    if (typeof id === 'number') return String(id);
    throw new GraphError(ambiguous('no_comment_id', 'Graph API accepted the reply without a comment id'));
  }

  /** Hides a comment from everyone but its author, or shows it again (POST /{comment-id}?hide=). */
  async hideComment(commentId: string, hide: boolean): Promise<void> {
    await this.call('POST', encodeURIComponent(commentId), { operation: 'comments', query: { hide } });
  }

  /** Deletes a comment (DELETE /{comment-id}). */
  async deleteComment(commentId: string): Promise<void> {
    await this.call('DELETE', encodeURIComponent(commentId), { operation: 'comments' });
  }

  /** Who the token belongs to: a cheap token check. */
  async me(): Promise<{ id?: string; username?: string; name?: string }> {
    return (
      await this.call<{ id?: string; username?: string; name?: string }>('GET', 'me', {
        operation: 'account',
        query: { fields: 'id,username,name' },
      })
    ).data;
  }
}
