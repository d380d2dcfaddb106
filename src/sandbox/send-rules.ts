import { LIMITS } from '../meta/send.ts';
import { type GraphAnswer, paramError } from './errors.ts';
import type { RateBucket } from './rate-limit.ts';

// The Send API body checked the way Meta checks it: one parameter at a time, the first problem
// answered as code 100 "(#100) Param ... " naming the parameter. Limits come from meta/send.ts, so
// the gateway and its sandbox agree on them.

type MessagingType = 'RESPONSE' | 'UPDATE' | 'MESSAGE_TAG';

export type Recipient = { id: string } | { comment_id: string };

export type SendRequest =
  | {
      kind: 'message';
      recipient: Recipient;
      messagingType: MessagingType;
      tag: 'HUMAN_AGENT' | null;
      /** The validated `message` object, as sent. */
      message: Record<string, unknown>;
      replyTo: string | null;
      /** Media attachment ids used (must be known to the sandbox). */
      attachmentId: string | null;
    }
  | {
      kind: 'action';
      recipient: { id: string };
      action: 'typing_on' | 'typing_off' | 'mark_seen' | 'react' | 'unreact';
      messageId: string | null;
      reaction: string | null;
    };

export const REACTIONS = ['like', 'love', 'laugh', 'wow', 'sad', 'angry', 'other'];
const MEDIA = ['image', 'video', 'audio', 'file'];
const ATTACHMENT_TYPES = [...MEDIA, 'like_heart', 'media_share', 'template'];
const SENDER_ACTIONS = ['typing_on', 'typing_off', 'mark_seen', 'react', 'unreact'];
const MESSAGING_TYPES = ['RESPONSE', 'UPDATE', 'MESSAGE_TAG'];

class Invalid extends Error {
  readonly subcode: number | undefined;
  constructor(message: string, subcode?: number) {
    super(message);
    this.subcode = subcode;
  }
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const chars = (s: string) => [...s].length;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function object(v: unknown, name: string): Record<string, unknown> {
  if (!isObject(v)) throw new Invalid(`Param ${name} must be a JSON object`);
  return v;
}

function onlyKeys(o: Record<string, unknown>, name: string, allowed: string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new Invalid(`Param ${name}[${k}] is not a valid parameter`);
  }
}

function string(v: unknown, name: string, max?: { chars?: number; bytes?: number }): string {
  if (v === undefined || v === null || v === '') throw new Invalid(`The parameter ${name} is required`);
  if (typeof v !== 'string') throw new Invalid(`Param ${name} must be a string`);
  if (v.trim() === '') throw new Invalid(`Param ${name} must be non-empty`);
  if (max?.chars !== undefined && chars(v) > max.chars)
    throw new Invalid(`Length of param ${name} must be less than or equal to ${max.chars}`);
  if (max?.bytes !== undefined && bytes(v) > max.bytes)
    throw new Invalid(`Length of param ${name} must be less than or equal to ${max.bytes} bytes`);
  return v;
}

/** An id: a string of digits or a number (Meta accepts both). */
function idParam(v: unknown, name: string): string {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return String(v);
  if (typeof v === 'string' && /^\d+(_\d+)?$/.test(v)) return v;
  if (v === undefined || v === null || v === '') throw new Invalid(`The parameter ${name} is required`);
  throw new Invalid(`Param ${name} must be a valid ID string (e.g., "123")`);
}

function https(v: unknown, name: string): string {
  const s = string(v, name);
  if (!URL.canParse(s) || new URL(s).protocol !== 'https:')
    throw new Invalid(`Param ${name} must be a valid https URL`);
  return s;
}

function array(v: unknown, name: string, min: number, max: number): unknown[] {
  if (!Array.isArray(v)) throw new Invalid(`Param ${name} must be an array`);
  if (v.length < min)
    throw new Invalid(`Param ${name} must have at least ${min} element${min === 1 ? '' : 's'}`);
  if (v.length > max) throw new Invalid(`Param ${name} must have at most ${max} elements`);
  return v;
}

/** The rate bucket of a call, read before validation (audio and video have their own limit). */
export function rateBucket(params: Record<string, unknown>): RateBucket {
  const m = params.message;
  const type = isObject(m) && isObject(m.attachment) ? m.attachment.type : undefined;
  return typeof type === 'string' && ['audio', 'video'].includes(type.toLowerCase()) ? 'media' : 'send';
}

/** Validates a Send API call's parameters; the first problem as Meta's code 100 error. */
export function parseSend(
  params: Record<string, unknown>,
  knownAttachment: (id: string) => boolean,
): { ok: true; send: SendRequest } | { ok: false; error: GraphAnswer } {
  try {
    return { ok: true, send: parse(params, knownAttachment) };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, error: paramError(err.message, err.subcode) };
    throw err;
  }
}

function parse(p: Record<string, unknown>, knownAttachment: (id: string) => boolean): SendRequest {
  if (p.recipient === undefined) throw new Invalid('The parameter recipient is required');
  const r = object(p.recipient, 'recipient');
  onlyKeys(r, 'recipient', ['id', 'comment_id']);
  if ((r.id === undefined) === (r.comment_id === undefined))
    throw new Invalid('Param recipient must have exactly one of id or comment_id');
  const recipient: Recipient =
    r.id !== undefined
      ? { id: idParam(r.id, 'recipient[id]') }
      : { comment_id: idParam(r.comment_id, 'recipient[comment_id]') };

  const hasMessage = p.message !== undefined;
  const hasAction = p.sender_action !== undefined;
  if (hasMessage === hasAction) throw new Invalid('Must send either message or sender_action');

  if (hasAction) {
    const action = string(p.sender_action, 'sender_action');
    if (!SENDER_ACTIONS.includes(action))
      throw new Invalid(`Param sender_action must be one of {${SENDER_ACTIONS.join(', ')}}`);
    if (!('id' in recipient))
      throw new Invalid('Sender actions need recipient[id], not recipient[comment_id]');
    for (const k of ['messaging_type', 'tag', 'reply_to'])
      if (p[k] !== undefined) throw new Invalid(`Param ${k} cannot be used with sender_action`);
    const react = action === 'react' || action === 'unreact';
    if (!react) {
      if (p.payload !== undefined)
        throw new Invalid(`Param payload cannot be used with sender_action ${action}`);
      return { kind: 'action', recipient, action: action as 'typing_on', messageId: null, reaction: null };
    }
    const payload = object(p.payload ?? null, 'payload');
    onlyKeys(payload, 'payload', action === 'react' ? ['message_id', 'reaction'] : ['message_id']);
    const messageId = string(payload.message_id, 'payload[message_id]');
    let reaction: string | null = null;
    if (action === 'react') {
      reaction = string(payload.reaction, 'payload[reaction]');
      if (!REACTIONS.includes(reaction))
        throw new Invalid(`Param payload[reaction] must be one of {${REACTIONS.join(', ')}}`);
    }
    return { kind: 'action', recipient, action: action as 'react', messageId, reaction };
  }

  let messagingType = 'RESPONSE' as MessagingType;
  if (p.messaging_type !== undefined) {
    const t = string(p.messaging_type, 'messaging_type');
    if (!MESSAGING_TYPES.includes(t))
      throw new Invalid(`Param messaging_type must be one of {${MESSAGING_TYPES.join(', ')}}`);
    messagingType = t as MessagingType;
  }
  let tag: 'HUMAN_AGENT' | null = null;
  if (messagingType === 'MESSAGE_TAG') {
    const t = string(p.tag, 'tag');
    if (t !== 'HUMAN_AGENT') throw new Invalid('Param tag must be one of {HUMAN_AGENT}');
    tag = 'HUMAN_AGENT';
  } else if (p.tag !== undefined) {
    throw new Invalid('Param tag can only be used with messaging_type MESSAGE_TAG');
  }

  let replyTo: string | null = null;
  if (p.reply_to !== undefined) {
    const rt = object(p.reply_to, 'reply_to');
    onlyKeys(rt, 'reply_to', ['mid']);
    replyTo = string(rt.mid, 'reply_to[mid]');
  }

  const message = object(p.message, 'message');
  const attachmentId = checkMessage(message, knownAttachment);
  return { kind: 'message', recipient, messagingType, tag, message, replyTo, attachmentId };
}

/** Checks `message`; returns the attachment id it uses, if any. */
function checkMessage(m: Record<string, unknown>, knownAttachment: (id: string) => boolean): string | null {
  onlyKeys(m, 'message', ['text', 'attachment', 'quick_replies', 'metadata']);
  if (m.text === undefined && m.attachment === undefined)
    throw new Invalid('Message cannot be empty, must provide valid attachment or text');
  if (m.text !== undefined && m.attachment !== undefined)
    throw new Invalid('Param message must have text or attachment, not both');
  if (m.text !== undefined) string(m.text, 'message[text]', { bytes: LIMITS.textBytes });
  if (m.metadata !== undefined) string(m.metadata, 'message[metadata]', { chars: 1000 });
  if (m.quick_replies !== undefined) {
    if (m.text === undefined)
      throw new Invalid('Param message[quick_replies] can only be sent with message[text]');
    const qrs = array(m.quick_replies, 'message[quick_replies]', 1, LIMITS.quickReplies);
    qrs.forEach((q, i) => {
      const name = `message[quick_replies][${i}]`;
      const qr = object(q, name);
      onlyKeys(qr, name, ['content_type', 'title', 'payload', 'image_url']);
      if (qr.content_type !== 'text') throw new Invalid(`Param ${name}[content_type] must be one of {text}`);
      string(qr.title, `${name}[title]`, { chars: LIMITS.quickReplyTitle });
      string(qr.payload, `${name}[payload]`, { chars: LIMITS.quickReplyPayload });
      if (qr.image_url !== undefined) https(qr.image_url, `${name}[image_url]`);
    });
  }
  if (m.attachment === undefined) return null;

  const a = object(m.attachment, 'message[attachment]');
  const type = string(a.type, 'message[attachment][type]');
  const t = type.toLowerCase();
  if (!ATTACHMENT_TYPES.includes(t))
    throw new Invalid(
      'Param message[attachment][type] must be one of {image, video, audio, file, like_heart, MEDIA_SHARE, template}',
    );
  onlyKeys(a, 'message[attachment]', ['type', 'payload']);
  const name = 'message[attachment][payload]';
  if (t === 'like_heart') {
    if (a.payload !== undefined && !(isObject(a.payload) && Object.keys(a.payload).length === 0))
      throw new Invalid(`Param ${name} must be empty for like_heart`);
    return null;
  }
  const payload = object(a.payload, name);
  if (MEDIA.includes(t)) {
    onlyKeys(payload, name, ['url', 'attachment_id', 'is_reusable']);
    if ((payload.url === undefined) === (payload.attachment_id === undefined))
      throw new Invalid(`Param ${name} must have exactly one of url or attachment_id`);
    if (payload.is_reusable !== undefined && typeof payload.is_reusable !== 'boolean')
      throw new Invalid(`Param ${name}[is_reusable] must be a boolean`);
    if (payload.url !== undefined) {
      https(payload.url, `${name}[url]`);
      return null;
    }
    const id = idParam(payload.attachment_id, `${name}[attachment_id]`);
    if (!knownAttachment(id)) throw new Invalid(`Param ${name}[attachment_id] is not a valid attachment id`);
    return id;
  }
  if (t === 'media_share') {
    onlyKeys(payload, name, ['id']);
    idParam(payload.id, `${name}[id]`);
    return null;
  }
  checkTemplate(payload, name);
  return null;
}

function checkTemplate(payload: Record<string, unknown>, name: string): void {
  const kind = string(payload.template_type, `${name}[template_type]`);
  if (kind === 'generic') {
    onlyKeys(payload, name, ['template_type', 'elements']);
    const elements = array(payload.elements, `${name}[elements]`, 1, LIMITS.templateElements);
    elements.forEach((e, i) => {
      const en = `${name}[elements][${i}]`;
      const el = object(e, en);
      onlyKeys(el, en, ['title', 'subtitle', 'image_url', 'default_action', 'buttons']);
      string(el.title, `${en}[title]`, { chars: LIMITS.templateTitle });
      if (el.subtitle !== undefined)
        string(el.subtitle, `${en}[subtitle]`, { chars: LIMITS.templateSubtitle });
      if (el.image_url !== undefined) https(el.image_url, `${en}[image_url]`);
      if (el.default_action !== undefined) {
        const d = object(el.default_action, `${en}[default_action]`);
        onlyKeys(d, `${en}[default_action]`, ['type', 'url']);
        if (d.type !== 'web_url')
          throw new Invalid(`Param ${en}[default_action][type] must be one of {web_url}`);
        https(d.url, `${en}[default_action][url]`);
      }
      if (el.buttons !== undefined) checkButtons(el.buttons, `${en}[buttons]`);
      if (
        el.subtitle === undefined &&
        el.image_url === undefined &&
        el.default_action === undefined &&
        el.buttons === undefined
      )
        throw new Invalid(
          `Param ${en} must have a subtitle, image_url, default_action or buttons besides its title`,
        );
    });
    return;
  }
  if (kind === 'button') {
    onlyKeys(payload, name, ['template_type', 'text', 'buttons']);
    string(payload.text, `${name}[text]`, { chars: LIMITS.buttonTemplateText });
    checkButtons(payload.buttons, `${name}[buttons]`);
    return;
  }
  throw new Invalid(`Param ${name}[template_type] must be one of {generic, button}`);
}

function checkButtons(v: unknown, name: string): void {
  array(v, name, 1, LIMITS.buttons).forEach((b, i) => {
    const bn = `${name}[${i}]`;
    const button = object(b, bn);
    const type = string(button.type, `${bn}[type]`);
    string(button.title, `${bn}[title]`, { chars: LIMITS.buttonTitle });
    if (type === 'web_url') {
      onlyKeys(button, bn, ['type', 'title', 'url']);
      https(button.url, `${bn}[url]`);
    } else if (type === 'postback') {
      onlyKeys(button, bn, ['type', 'title', 'payload']);
      string(button.payload, `${bn}[payload]`, { chars: LIMITS.postbackPayload });
    } else {
      throw new Invalid(`Param ${bn}[type] must be one of {web_url, postback}`);
    }
  });
}
