import {
  consentRequired,
  type GraphAnswer,
  nonexistingField,
  paramError,
  unsupportedRequest,
} from './errors.ts';
import type { GraphCall } from './graph.ts';
import type { SandboxState } from './state.ts';
import { graphTime, type Json } from './wire.ts';

// GET /{id}: the account itself ("me"), a customer's profile (only once they have written), or a
// message (a story mention's story). And GET /debug_token for a token check.

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
        attachments: message.attachments ? { data: message.attachments } : undefined,
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
  const valid = input === o.accessToken;
  return {
    status: 200,
    body: {
      data: {
        app_id: o.appId,
        type: 'USER',
        application: 'igdm sandbox',
        data_access_expires_at: 0,
        expires_at: 0,
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
