import {
  appRateLimited,
  consentRequired,
  type GraphAnswer,
  nonexistingField,
  paramError,
  unsupportedRequest,
} from './errors.ts';
import type { GraphCall } from './graph.ts';
import { businessUsageHeader } from './rate-limit.ts';
import type { SandboxState } from './state.ts';
import { graphTime, type Json } from './wire.ts';

// GET /{id}: the account itself ("me"), a customer's profile (only once they have written), a
// message (a story mention's story), or a conversation (its messages). The Conversations API's
// list, GET /{id}/conversations. And GET /debug_token for a token check.

/** The fields asked for, or the node's default fields. */
function fieldsOf(params: Record<string, unknown>, defaults: string[]): string[] {
  const f = params.fields;
  if (typeof f !== 'string' || f.trim() === '') return defaults;
  return f
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Picks `fields` from `all`; an unknown field is Meta's code 100. `id` is always there. */
function pick(all: Json, fields: string[], nodeType: string): GraphAnswer {
  const out: Json = {};
  for (const f of fields) {
    if (!(f in all)) return nonexistingField(f, nodeType);
    if (all[f] !== undefined) out[f] = all[f];
  }
  out.id = all.id;
  return { status: 200, body: out };
}

export function getNode(call: GraphCall): GraphAnswer {
  const { state, node, params } = call;
  const o = state.options;
  if (node === 'me' || node === o.accountId || node === o.pageId) {
    return pick(accountFields(state, node), fieldsOf(params, ['username']), 'User');
  }
  const conversation = customerOfConversation(node);
  if (
    (conversation !== null || state.messages.has(node)) &&
    !state.limiter.take('conversations', state.now())
  )
    return conversationsLimited(state);
  if (conversation !== null && state.customers.get(conversation)?.firstInboundAt != null) {
    // Newest first (the later one first at the same time); Meta lets only the 20 newest be read.
    const messages = [...state.messages.values()]
      .filter((m) => m.igsid === conversation)
      .reverse()
      .sort((a, b) => b.time - a.time)
      .slice(0, 20)
      .map((m) => ({ id: m.mid, created_time: graphTime(m.time) }));
    return pick(
      {
        id: node,
        messages: { data: messages },
        updated_time: graphTime(messages.length ? Date.parse(messages[0]!.created_time) : 0),
      },
      fieldsOf(params, ['updated_time']),
      'Conversation',
    );
  }
  const message = state.messages.get(node);
  if (message) {
    const customer = state.customers.get(message.igsid);
    const them = { id: message.igsid, username: customer?.username };
    const us = { id: o.accountId, username: 'igdm.sandbox' };
    const [from, to] = message.direction === 'inbound' ? [them, us] : [us, them];
    return pick(
      {
        id: message.mid,
        created_time: graphTime(message.time),
        from,
        to: { data: [to] },
        message: message.text ?? '',
        attachments: message.attachments
          ? { data: message.attachments.map(conversationsApiAttachment) }
          : undefined,
        story: message.story,
        is_unsupported: false,
      },
      fieldsOf(params, ['created_time']),
      'Message',
    );
  }
  const customer = state.customers.get(node);
  if (customer?.firstInboundAt != null) {
    const base = `${call.req.protocol}://${call.req.host}${call.req.url.split('/graph/')[0]}`;
    return pick(
      {
        id: customer.igsid,
        name: customer.name,
        username: customer.username,
        profile_pic: `${base}/avatars/${customer.igsid}.svg`,
        follower_count: customer.followerCount,
        is_user_follow_business: customer.isUserFollowBusiness,
        is_business_follow_user: customer.isBusinessFollowUser,
        is_verified_user: customer.isVerifiedUser,
      },
      fieldsOf(params, ['name']),
      'InstagramUser',
    );
  }
  // An IGSID-looking id of someone who never wrote: Meta needs their consent (a message) first.
  if (/^\d{5,}$/.test(node)) return consentRequired();
  return unsupportedRequest('GET', node);
}

/**
 * A message's attachment as the Conversations API shows it (not the webhook's {type, payload}): a
 * MIME type and name, with `image_data.url`, `video_data.url` or `file_url`. Other kinds (shares,
 * story mentions, reels) keep the webhook's shape here.
 */
function conversationsApiAttachment(a: unknown): unknown {
  const { type, payload } = (a ?? {}) as { type?: string; payload?: { url?: string } };
  const url = payload?.url;
  if (typeof url !== 'string') return a;
  const id = `${Buffer.from(url).toString('base64url').slice(-12)}`;
  if (type === 'image')
    return { id, mime_type: 'image/jpeg', name: 'image.jpg', image_data: { url, preview_url: url } };
  if (type === 'video')
    return { id, mime_type: 'video/mp4', name: 'video.mp4', video_data: { url, preview_url: url } };
  if (type === 'audio') return { id, mime_type: 'audio/mpeg', name: 'audio.mp3', file_url: url };
  if (type === 'file') return { id, mime_type: 'application/pdf', name: 'file.pdf', file_url: url };
  return a;
}

/** Over the Conversations API's 2 calls/s: throttled, access back within the minute. */
const conversationsLimited = (state: SandboxState) =>
  appRateLimited({ 'x-business-use-case-usage': businessUsageHeader(state.options.accountId, 100, 0) });

/** A conversation's id: opaque, as Meta's are, but the sandbox can tell whose it is. */
export const conversationIdOf = (igsid: string) =>
  `aWdf${Buffer.from(`sandbox-conversation:${igsid}`).toString('base64url')}`;

function customerOfConversation(id: string): string | null {
  if (!id.startsWith('aWdf')) return null;
  const text = Buffer.from(id.slice(4), 'base64url').toString();
  return text.startsWith('sandbox-conversation:') ? text.slice('sandbox-conversation:'.length) : null;
}

/** GET /{account}/conversations?platform=instagram[&user_id=]: the account's conversations, newest first. */
export function getConversations({ state, params }: GraphCall): GraphAnswer {
  if (!state.limiter.take('conversations', state.now())) return conversationsLimited(state);
  if (params.platform !== 'instagram') return paramError('The parameter platform is required (instagram)');
  const latest = new Map<string, number>();
  for (const m of state.messages.values()) latest.set(m.igsid, Math.max(latest.get(m.igsid) ?? 0, m.time));
  const userId = typeof params.user_id === 'string' ? params.user_id : null;
  const data = [...latest]
    .filter(
      ([igsid]) =>
        (userId === null || igsid === userId) && state.customers.get(igsid)?.firstInboundAt != null,
    )
    .sort((a, b) => b[1] - a[1])
    .map(([igsid, time]) => ({ id: conversationIdOf(igsid), updated_time: graphTime(time) }));
  return { status: 200, body: { data } };
}

function accountFields(state: SandboxState, node: string): Json {
  const o = state.options;
  return {
    id: node === o.pageId ? o.pageId : o.accountId,
    user_id: o.accountId,
    username: 'igdm.sandbox',
    name: 'igdm Sandbox',
    account_type: 'BUSINESS',
    profile_picture_url: undefined,
    followers_count: 1234,
    follows_count: 56,
    media_count: 78,
    biography: 'A simulated Instagram professional account',
  };
}

/** GET /debug_token?input_token=...: whether a token is the sandbox's. */
export function debugToken({ state, params }: GraphCall): GraphAnswer {
  const o = state.options;
  const input = params.input_token;
  if (typeof input !== 'string' || input === '') return paramError('The parameter input_token is required');
  const valid = input === o.accessToken && (!o.expireTokens || state.now() < state.token.expiresAt);
  return {
    status: 200,
    body: {
      data: {
        app_id: o.appId,
        type: 'USER',
        application: 'igdm sandbox',
        data_access_expires_at: 0,
        // Seconds, as Meta gives it.
        expires_at: input === o.accessToken ? Math.floor(state.token.expiresAt / 1000) : 0,
        is_valid: valid,
        ...(valid
          ? {
              scopes: ['instagram_business_basic', 'instagram_business_manage_messages'],
              user_id: o.accountId,
            }
          : {
              error: {
                code: 190,
                message: 'Error validating access token: Session has expired.',
                subcode: 463,
              },
            }),
      },
    },
  };
}
