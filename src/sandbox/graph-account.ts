import {
  isUploadType,
  MAX_UPLOAD_BYTES,
  mediaTypeOf,
  UPLOAD_FORMATS,
  type UploadType,
} from '../meta/uploads.ts';
import { type GraphAnswer, noMatchingUser, paramError } from './errors.ts';
import type { GraphCall } from './graph.ts';
import { cdnUrl, newObjectId } from './ids.ts';

// The account's edges: messenger_profile (ice breakers, persistent menu), message_attachments,
// subscribed_apps, and conversation routing (pass / take / release / request thread control,
// thread_owner).

const ok = (body: unknown): GraphAnswer => ({ status: 200, body });
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const chars = (s: string) => [...s].length;

const PROFILE_FIELDS = ['ice_breakers', 'persistent_menu'] as const;
type ProfileField = (typeof PROFILE_FIELDS)[number];

/** A list parameter: an array, or a comma-separated string. */
function listParam(v: unknown): string[] | null {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string' && v.trim() !== '')
    return v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return null;
}

function platformError(params: Record<string, unknown>): GraphAnswer | null {
  const p = params.platform;
  return p === undefined || p === 'instagram'
    ? null
    : paramError('Param platform must be one of {instagram}');
}

export function getMessengerProfile({ state, params }: GraphCall): GraphAnswer {
  const bad = platformError(params);
  if (bad) return bad;
  const fields = listParam(params.fields) ?? [...PROFILE_FIELDS];
  const unknown = fields.find((f) => !(PROFILE_FIELDS as readonly string[]).includes(f));
  if (unknown)
    return paramError(`Param fields[0] must be one of {${PROFILE_FIELDS.join(', ')}}, got ${unknown}`);
  const entry: Record<string, unknown> = {};
  for (const f of fields as ProfileField[]) {
    const value = state.messengerProfile[f];
    if (value !== undefined) entry[f] = value;
  }
  return ok({ data: Object.keys(entry).length ? [entry] : [] });
}

export function postMessengerProfile({ state, params }: GraphCall): GraphAnswer {
  const bad = platformError(params);
  if (bad) return bad;
  if (params.ice_breakers === undefined && params.persistent_menu === undefined)
    return paramError(`Requires one of the params: ${PROFILE_FIELDS.join(', ')}`);
  const problem =
    (params.ice_breakers !== undefined && iceBreakersProblem(params.ice_breakers)) ||
    (params.persistent_menu !== undefined && menuProblem(params.persistent_menu));
  if (problem) return paramError(problem);
  if (params.ice_breakers !== undefined)
    state.messengerProfile.ice_breakers = params.ice_breakers as unknown[];
  if (params.persistent_menu !== undefined)
    state.messengerProfile.persistent_menu = params.persistent_menu as unknown[];
  return ok({ result: 'success' });
}

export function deleteMessengerProfile({ state, params }: GraphCall): GraphAnswer {
  const bad = platformError(params);
  if (bad) return bad;
  const fields = listParam(params.fields);
  if (!fields) return paramError('The parameter fields is required');
  const unknown = fields.find((f) => !(PROFILE_FIELDS as readonly string[]).includes(f));
  if (unknown)
    return paramError(`Param fields must be one of {${PROFILE_FIELDS.join(', ')}}, got ${unknown}`);
  for (const f of fields as ProfileField[]) delete state.messengerProfile[f];
  return ok({ result: 'success' });
}

/** Ice breakers: [{locale, call_to_actions: [{question, payload}] (1 to 4)}]. */
function iceBreakersProblem(v: unknown): string | null {
  if (!Array.isArray(v) || v.length === 0) return 'Param ice_breakers must be a non-empty array';
  for (const [i, block] of v.entries()) {
    const name = `ice_breakers[${i}]`;
    if (!isObject(block)) return `Param ${name} must be a JSON object`;
    if (block.locale !== undefined && (typeof block.locale !== 'string' || block.locale === ''))
      return `Param ${name}[locale] must be a locale such as "default"`;
    const ctas = block.call_to_actions;
    if (!Array.isArray(ctas) || ctas.length === 0)
      return `Param ${name}[call_to_actions] must be a non-empty array`;
    if (ctas.length > 4) return `Param ${name}[call_to_actions] must have at most 4 elements`;
    for (const [j, q] of ctas.entries()) {
      const qn = `${name}[call_to_actions][${j}]`;
      if (!isObject(q)) return `Param ${qn} must be a JSON object`;
      if (typeof q.question !== 'string' || q.question.trim() === '')
        return `The parameter ${qn}[question] is required`;
      if (chars(q.question) > 80) return `Length of param ${qn}[question] must be less than or equal to 80`;
      if (typeof q.payload !== 'string' || q.payload.trim() === '')
        return `The parameter ${qn}[payload] is required`;
      if (chars(q.payload) > 1000) return `Length of param ${qn}[payload] must be less than or equal to 1000`;
    }
  }
  return null;
}

/** Persistent menu: [{locale, composer_input_disabled?, call_to_actions: [{type, title, url|payload}]}]. */
function menuProblem(v: unknown): string | null {
  if (!Array.isArray(v) || v.length === 0) return 'Param persistent_menu must be a non-empty array';
  for (const [i, block] of v.entries()) {
    const name = `persistent_menu[${i}]`;
    if (!isObject(block)) return `Param ${name} must be a JSON object`;
    const ctas = block.call_to_actions;
    if (!Array.isArray(ctas) || ctas.length === 0)
      return `Param ${name}[call_to_actions] must be a non-empty array`;
    if (ctas.length > 20) return `Param ${name}[call_to_actions] must have at most 20 elements`;
    for (const [j, item] of ctas.entries()) {
      const n = `${name}[call_to_actions][${j}]`;
      if (!isObject(item)) return `Param ${n} must be a JSON object`;
      if (typeof item.title !== 'string' || item.title.trim() === '')
        return `The parameter ${n}[title] is required`;
      if (chars(item.title) > 30) return `Length of param ${n}[title] must be less than or equal to 30`;
      if (item.type === 'web_url') {
        if (typeof item.url !== 'string' || !URL.canParse(item.url))
          return `Param ${n}[url] must be a valid URL`;
      } else if (item.type === 'postback') {
        if (typeof item.payload !== 'string' || item.payload === '')
          return `The parameter ${n}[payload] is required`;
      } else {
        return `Param ${n}[type] must be one of {web_url, postback}`;
      }
    }
  }
  return null;
}

/**
 * The Attachment Upload API: media from a URL (JSON or form parameters), or a file's bytes as the
 * `filedata` part of a multipart form (meta/uploads.ts), for Instagram (`platform=instagram`).
 */
export function postMessageAttachment({ state, params }: GraphCall): GraphAnswer {
  const bad = platformError(params);
  if (bad) return bad;
  const m = params.message;
  const a = isObject(m) ? m.attachment : undefined;
  if (!isObject(a)) return paramError('The parameter message[attachment] is required');
  const type = typeof a.type === 'string' ? a.type.toLowerCase() : '';
  if (!isUploadType(type))
    return paramError('Param message[attachment][type] must be one of {image, video, audio, file}');
  const payload = a.payload === undefined ? {} : a.payload;
  if (!isObject(payload)) return paramError('Param message[attachment][payload] must be an object');
  const reusable = payload.is_reusable;
  if (
    reusable !== undefined &&
    reusable !== true &&
    reusable !== false &&
    reusable !== 'true' &&
    reusable !== 'false'
  )
    return paramError('Param message[attachment][payload][is_reusable] must be a boolean');
  const file = params.filedata;
  if (file !== undefined) {
    if (payload.url !== undefined)
      return paramError('Param message[attachment][payload][url] cannot be given with filedata');
    if (!(file instanceof File)) return paramError('Param filedata must be a file');
    const problem = fileProblem(type, file);
    if (problem) return problem;
    const id = newObjectId();
    state.attachments.set(id, {
      type,
      url: cdnUrl(),
      file: { filename: file.name, contentType: mediaTypeOf(file.type), size: file.size },
    });
    return ok({ attachment_id: id });
  }
  const url = payload.url;
  if (typeof url !== 'string' || !URL.canParse(url) || new URL(url).protocol !== 'https:')
    return paramError('Param message[attachment][payload][url] must be a valid https URL');
  const id = newObjectId();
  state.attachments.set(id, { type, url });
  return ok({ attachment_id: id });
}

/** A file Meta would refuse: empty, over its size, or not one of its formats (subcode unverified). */
function fileProblem(type: UploadType, file: File): GraphAnswer | null {
  if (file.size === 0) return paramError('Param filedata must not be empty');
  if (file.size > MAX_UPLOAD_BYTES[type])
    return paramError('Attachment size exceeds allowable limit', 2018109);
  const format = mediaTypeOf(file.type);
  if (!UPLOAD_FORMATS[type].includes(format))
    return paramError(`This attachment format is not supported: ${format || 'no content type'}`, 2534080);
  return null;
}

const WEBHOOK_FIELDS = [
  'messages',
  'messaging_postbacks',
  'messaging_optins',
  'messaging_seen',
  'messaging_handover',
  'messaging_referral',
  'message_reactions',
  'message_edit',
  'messaging_referrals',
  'standby',
  'comments',
  'live_comments',
  'mentions',
  'story_insights',
];

export function postSubscribedApps({ state, params }: GraphCall): GraphAnswer {
  const fields = listParam(params.subscribed_fields);
  if (!fields) return paramError('The parameter subscribed_fields is required');
  const i = fields.findIndex((f) => !WEBHOOK_FIELDS.includes(f));
  if (i >= 0)
    return paramError(`Param subscribed_fields[${i}] must be one of {${WEBHOOK_FIELDS.join(', ')}}`);
  state.subscribedFields = [...new Set(fields)];
  return ok({ success: true });
}

export function getSubscribedApps({ state }: GraphCall): GraphAnswer {
  if (state.subscribedFields.length === 0) return ok({ data: [] });
  return ok({
    data: [{ id: state.options.appId, name: 'igdm sandbox', subscribed_fields: state.subscribedFields }],
  });
}

export function deleteSubscribedApps({ state }: GraphCall): GraphAnswer {
  state.subscribedFields = [];
  return ok({ success: true });
}

/** pass / take / release / request_thread_control {recipient:{id}, target_app_id?, metadata?}. */
export function threadControl({ state, params, edge }: GraphCall): GraphAnswer {
  const r = params.recipient;
  const igsid = isObject(r) && (typeof r.id === 'string' || typeof r.id === 'number') ? String(r.id) : null;
  if (!igsid) return paramError('The parameter recipient is required');
  if (!state.customers.get(igsid)?.firstInboundAt) return noMatchingUser();
  if (params.metadata !== undefined && (typeof params.metadata !== 'string' || chars(params.metadata) > 1000))
    return paramError('Param metadata must be a string of at most 1000 characters');
  if (edge === 'pass_thread_control') {
    const target = params.target_app_id;
    if (typeof target !== 'string' && typeof target !== 'number')
      return paramError('The parameter target_app_id is required');
    state.threadOwners.set(igsid, String(target));
  } else if (edge === 'take_thread_control' || edge === 'release_thread_control') {
    // Taken by this app, or released back to the default owner: this app in the sandbox.
    state.threadOwners.delete(igsid);
  }
  return ok({ success: true });
}

export function getThreadOwner({ state, params }: GraphCall): GraphAnswer {
  const igsid = typeof params.recipient === 'string' ? params.recipient : null;
  if (!igsid) return paramError('The parameter recipient is required');
  if (!state.customers.get(igsid)?.firstInboundAt) return noMatchingUser();
  return ok({ data: [{ thread_owner: { app_id: state.threadOwners.get(igsid) ?? state.options.appId } }] });
}
