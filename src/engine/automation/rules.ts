import { type CommentEvent, type DomainEvent, referralOf } from '../../meta/events.ts';
import { type Content, LIMITS, parseContent } from '../../meta/send.ts';
import {
  type AutomationConfig,
  COMMENT_TEXT_MAX,
  PLACEHOLDER,
  type Placeholder,
  type Rule,
  type Trigger,
} from './config.ts';

// Which rule answers an inbound event, and the reply it sends. Pure: the engine gathers the facts
// (first message? intent? the contact's names) and acts on the match.

export interface RuleInput {
  event: DomainEvent;
  /** The message text; defaults to the text of a message event. */
  text?: string;
  /** A quick reply or postback payload; defaults to the one the event carries. */
  payload?: string;
  /** The classified intent of the text, when known. */
  intent?: string;
  /** This is the contact's first message to the account. */
  firstMessage: boolean;
  contact: { username?: string | null; name?: string | null };
}

export type ReplyVars = Record<Placeholder, string>;

export interface Match {
  rule: Rule;
  /** The rule's position in the file. */
  index: number;
  /** The placeholder values for this event: render the reply with `renderReply(rule.reply, vars)`. */
  vars: ReplyVars;
}

/** Events a customer causes. Echoes, reads, edits, handovers and the rest never trigger a rule. */
const INBOUND = new Set<DomainEvent['kind']>(['message', 'postback', 'reaction', 'referral']);

/** The first rule (in file order) the input satisfies, or null. */
export function matchRule(config: AutomationConfig, input: RuleInput): Match | null {
  const { event } = input;
  if (!INBOUND.has(event.kind)) return null;
  const text = (input.text ?? (event.kind === 'message' ? event.text : undefined))?.normalize('NFC');
  const payload =
    input.payload ??
    (event.kind === 'message'
      ? event.quickReplyPayload
      : event.kind === 'postback'
        ? event.payload
        : undefined);
  const facts: Facts = { event, text, payload, intent: input.intent, firstMessage: input.firstMessage };
  const index = config.rules.findIndex((r) => triggers(r.when, facts));
  if (index < 0) return null;
  return {
    rule: config.rules[index]!,
    index,
    vars: {
      username: input.contact.username ?? '',
      name: input.contact.name ?? '',
      text: text ?? '',
    },
  };
}

interface Facts {
  event: DomainEvent;
  text: string | undefined;
  payload: string | undefined;
  intent: string | undefined;
  firstMessage: boolean;
}

function triggers(when: Trigger, f: Facts): boolean {
  if ('comment' in when) return false; // comments are matched by matchCommentRule only
  if ('keyword' in when) return f.text !== undefined && when.patterns.some((p) => p.test(f.text!));
  if ('regex' in when) return f.text !== undefined && when.pattern.test(f.text);
  if ('payload' in when) return f.payload !== undefined && when.payload.includes(f.payload);
  if ('intent' in when) return f.intent !== undefined && (when.intent as string[]).includes(f.intent);
  if ('referral' in when) {
    const r = referralOf(f.event);
    return r !== undefined && when.referral.some((v) => v === r.ref || v === r.adId);
  }
  const e = f.event;
  switch (when.event) {
    case 'story_mention':
      return e.kind === 'message' && e.attachments.some((a) => a.type === 'story_mention');
    case 'story_reply':
      return e.kind === 'message' && e.replyTo !== undefined && 'story' in e.replyTo;
    case 'reaction':
      return e.kind === 'reaction' && e.action === 'react';
    case 'referral':
      return e.kind === 'referral' || ((e.kind === 'message' || e.kind === 'postback') && !!e.referral);
    case 'first_message':
      return f.firstMessage;
  }
}

/** The first comment rule (in file order) a comment satisfies, or null. */
export function matchCommentRule(config: AutomationConfig, event: CommentEvent): Rule | null {
  const text = event.text?.normalize('NFC');
  for (const rule of config.rules) {
    if (!('comment' in rule.when)) continue;
    const c = rule.when.comment;
    if (c === true || (text !== undefined && c.patterns.some((p) => p.test(text)))) return rule;
  }
  return null;
}

/** A public reply's text with the placeholders filled, cut to Instagram's comment length. */
export function renderCommentText(template: string, vars: Partial<ReplyVars>): string {
  const v: ReplyVars = { username: vars.username ?? '', name: vars.name ?? '', text: vars.text ?? '' };
  return fillWithin(template, v, COMMENT_TEXT_MAX, charCount);
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

const fill = (template: string, vars: ReplyVars) =>
  template.replace(PLACEHOLDER, (whole, key: string) => (key in vars ? vars[key as Placeholder] : whole));

/** The longest prefix of `s` (whole code points) whose size fits `max`. */
function cut(s: string, max: number, size: (s: string) => number): string {
  let out = '';
  for (const ch of s) {
    if (size(out + ch) > max) break;
    out += ch;
  }
  return out;
}

/**
 * A string field with a size limit: when the customer's {{text}} would push it past the limit, the
 * substituted text is shortened (ending in …) so that the whole still fits.
 */
function fillWithin(template: string, vars: ReplyVars, max: number, size: (s: string) => number): string {
  const full = fill(template, vars);
  if (size(full) <= max) return full;
  const uses = [...template.matchAll(PLACEHOLDER)].filter((m) => m[1] === 'text').length;
  if (uses === 0) return full;
  const rest = size(fill(template, { ...vars, text: '' }));
  const each = Math.floor((max - rest) / uses);
  if (each <= 0) return fill(template, { ...vars, text: '' });
  const ellipsis = size('…') < each ? '…' : '';
  const short = cut(vars.text, each - size(ellipsis), size).trimEnd() + ellipsis;
  return fill(template, { ...vars, text: short });
}

const charCount = (s: string) => [...s].length;

/**
 * The reply with {{username}}, {{name}} and {{text}} filled in every string (a missing value is
 * empty), checked again against the Send API limits. Throws SendValidationError when the result
 * cannot be sent (e.g. a text that is only {{text}} with no text).
 */
export function renderReply(content: Content, vars: Partial<ReplyVars>): Content {
  const v: ReplyVars = { username: vars.username ?? '', name: vars.name ?? '', text: vars.text ?? '' };
  const walk = (value: unknown, key: string | null, parent: Record<string, unknown> | null): unknown => {
    if (typeof value === 'string') {
      if (key === 'text' && parent?.['type'] === 'text') return fillWithin(value, v, LIMITS.textBytes, bytes);
      if (key === 'text' && parent?.['type'] === 'button')
        return fillWithin(value, v, LIMITS.buttonTemplateText, charCount);
      return fill(value, v);
    }
    if (Array.isArray(value)) return value.map((x) => walk(x, null, null));
    if (value && typeof value === 'object') {
      const obj = value as Record<string, unknown>;
      return Object.fromEntries(Object.entries(obj).map(([k, x]) => [k, walk(x, k, obj)]));
    }
    return value;
  };
  return parseContent(walk(content, null, null));
}
