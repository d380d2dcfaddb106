import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../../config.ts';
import { Content, LIMITS } from '../../meta/send.ts';

// The automation file named by IGDM_CONFIG (YAML or JSON): ordered rules — a trigger (`when`) and
// one or more actions — and the AI settings. It is checked once, at start; every problem is reported
// as `file:line: field.path: message`, so an operator can fix the file without guessing.

export const EVENTS = ['story_mention', 'story_reply', 'reaction', 'referral', 'first_message'] as const;
export const INTENTS = ['enquiry', 'order', 'collab', 'support', 'general'] as const;
export const PLACEHOLDERS = ['username', 'name', 'text'] as const;
const TRIGGERS = ['keyword', 'regex', 'payload', 'event', 'intent', 'referral'] as const;
const ACTIONS = ['reply', 'handover', 'tag', 'webhook', 'ai'] as const;
/** The actions of a rule on comments (`when: { event: comment }`): they answer the comment. */
const COMMENT_ACTIONS = ['privateReply', 'publicReply'] as const;
/** Instagram's longest comment. */
export const COMMENT_TEXT_MAX = 2200;

export type TriggerEvent = (typeof EVENTS)[number];
export type Intent = (typeof INTENTS)[number];
export type Placeholder = (typeof PLACEHOLDERS)[number];

/** What makes a rule fire; exactly one kind per rule. Lists match when any item matches. */
export type Trigger =
  | { keyword: string[]; patterns: RegExp[] }
  | { regex: string; pattern: RegExp }
  | { payload: string[] }
  | { event: TriggerEvent }
  | { intent: Intent[] }
  /** An ig.me link's `ref` or an ad's id, as the referral carries it. */
  | { referral: string[] }
  /** A comment on the account's media (or live video); with keywords, one of them in its text. */
  | { comment: { keyword: string[]; patterns: RegExp[] } | true };

export interface Rule {
  name: string;
  when: Trigger;
  /** Send API content (src/meta/send.ts); strings may hold {{username}}, {{name}}, {{text}}. */
  reply?: Content;
  handover?: 'human';
  tag?: string[];
  webhook?: { url: string; secret?: string };
  /** Ask the AI for the reply. */
  ai?: true;
  /** For comment rules: a private reply (a DM to the commenter; once per comment, within 7 days). */
  privateReply?: Content;
  /** For comment rules: a public reply under the comment (text). */
  publicReply?: string;
}

export type AiFallback = { text: string } | { handover: 'human' };

export interface AiSettings {
  provider: 'openai' | 'anthropic' | 'none';
  model?: string;
  system?: string;
  timeoutMs: number;
  fallback?: AiFallback;
  /** Who classifies intent: the offline classifier (default) or the provider's LLM. */
  intent: 'offline' | 'llm';
}

export interface AutomationConfig {
  /** In file order: the first matching rule wins. */
  rules: Rule[];
  ai: AiSettings;
}

export interface AutomationIssue {
  /** 1-based line in the file, when it can be told. */
  line: number | null;
  /** The field, e.g. `rules[1].when.regex`. */
  path: string;
  message: string;
}

/** A problem in the automation file. `problems` are `file:line: path: message`, one per issue. */
export class AutomationConfigError extends ConfigError {
  readonly file: string;
  readonly issues: AutomationIssue[];
  constructor(file: string, issues: AutomationIssue[]) {
    const problems = issues.map(
      (i) => `${file}${i.line === null ? '' : `:${i.line}`}: ${i.path ? `${i.path}: ` : ''}${i.message}`,
    );
    super(problems);
    this.name = 'AutomationConfigError';
    this.message = problems.join('\n');
    this.file = file;
    this.issues = issues;
  }
}

// ---- schema ----

const text = z.string().refine((s) => s.trim() !== '', 'must not be empty');
const oneOrMany = <T extends z.ZodType>(item: T) =>
  z.union([item, z.array(item).min(1, 'must have at least 1 item')]);

/** A `{{name}}` in a reply's text: the one syntax for validating (here) and filling (rules.ts). */
export const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

function regexProblem(source: string): string | null {
  try {
    new RegExp(source, 'u');
    return null;
  } catch (err) {
    return `invalid regular expression (${(err as Error).message.replace(/^Invalid regular expression: /, '')})`;
  }
}

const When = z
  .strictObject({
    keyword: oneOrMany(text).optional(),
    regex: z
      .string()
      .superRefine((s, ctx) => {
        const problem = s === '' ? 'must not be empty' : regexProblem(s);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    payload: oneOrMany(text).optional(),
    event: z.enum([...EVENTS, 'comment']).optional(),
    intent: oneOrMany(z.enum(INTENTS)).optional(),
    referral: oneOrMany(text).optional(),
  })
  .superRefine((w, ctx) => {
    // Comments take keywords too: `{ event: comment, keyword: [LINK] }`.
    const given = TRIGGERS.filter((k) => w[k] !== undefined && !(k === 'keyword' && w.event === 'comment'));
    if (given.length !== 1)
      ctx.addIssue({
        code: 'custom',
        message: `needs exactly one of ${TRIGGERS.join(', ')}${given.length ? ` (got ${given.join(', ')})` : ''}`,
      });
  });

const httpUrl = z
  .string()
  .refine(
    (u) => URL.canParse(u) && ['http:', 'https:'].includes(new URL(u).protocol),
    'must be an http:// or https:// URL',
  );

const RuleSchema = z
  .strictObject({
    name: text,
    when: When,
    reply: Content.optional(),
    handover: z.literal('human').optional(),
    tag: oneOrMany(text).optional(),
    webhook: z.strictObject({ url: httpUrl, secret: text.optional() }).optional(),
    ai: z.literal(true).optional(),
    privateReply: Content.optional(),
    publicReply: text.max(COMMENT_TEXT_MAX, `must be at most ${COMMENT_TEXT_MAX} characters`).optional(),
  })
  .superRefine((r, ctx) => {
    const [own, other] = r.when.event === 'comment' ? [COMMENT_ACTIONS, ACTIONS] : [ACTIONS, COMMENT_ACTIONS];
    if (!own.some((a) => r[a] !== undefined))
      ctx.addIssue({ code: 'custom', message: `needs at least one action: ${own.join(', ')}` });
    for (const a of other) {
      if (r[a] === undefined) continue;
      const why =
        r.when.event === 'comment'
          ? `a comment rule answers with ${COMMENT_ACTIONS.join(' or ')}`
          : 'only a comment rule (when: { event: comment }) has it';
      ctx.addIssue({ code: 'custom', path: [a], message: why });
    }
    if (r.reply) placeholderIssues(r.reply, ['reply'], ctx);
    if (r.privateReply) placeholderIssues(r.privateReply, ['privateReply'], ctx);
    if (r.publicReply) placeholderIssues(r.publicReply, ['publicReply'], ctx);
  });

function placeholderIssues(value: unknown, path: (string | number)[], ctx: z.RefinementCtx) {
  if (typeof value === 'string') {
    for (const m of value.matchAll(PLACEHOLDER)) {
      if (!(PLACEHOLDERS as readonly string[]).includes(m[1]!))
        ctx.addIssue({
          code: 'custom',
          path,
          message: `unknown placeholder ${m[0]} (use ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')})`,
        });
    }
  } else if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) placeholderIssues(v, [...path, i], ctx);
  } else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) placeholderIssues(v, [...path, k], ctx);
}

const Fallback = z
  .strictObject({
    text: text
      .refine(
        (s) => Buffer.byteLength(s) <= LIMITS.textBytes,
        `must be at most ${LIMITS.textBytes} bytes (UTF-8)`,
      )
      .optional(),
    handover: z.literal('human').optional(),
  })
  .refine(
    (f) => (f.text === undefined) !== (f.handover === undefined),
    'needs exactly one of text, handover',
  );

const Ai = z.strictObject({
  provider: z.enum(['openai', 'anthropic', 'none']).default('none'),
  model: text.optional(),
  system: text.optional(),
  timeoutMs: z.number().int('must be a whole number').positive('must be positive').default(10_000),
  fallback: Fallback.optional(),
  intent: z.enum(['offline', 'llm']).default('offline'),
});

const FileSchema = z
  .strictObject({
    rules: z
      .array(RuleSchema)
      .min(1, 'must have at least 1 rule')
      .superRefine((rules, ctx) => {
        const seen = new Map<string, number>();
        rules.forEach((r, i) => {
          const first = seen.get(r.name);
          if (first === undefined) seen.set(r.name, i);
          else
            ctx.addIssue({
              code: 'custom',
              path: [i, 'name'],
              message: `duplicate rule name "${r.name}" (already used by rules[${first}])`,
            });
        });
      }),
    ai: Ai.optional(),
  })
  // Asking an AI that is not there would hand every such conversation to a human: refuse at start.
  .superRefine((f, ctx) => {
    if ((f.ai?.provider ?? 'none') !== 'none') return;
    const need = 'needs an AI provider: set ai.provider to openai or anthropic';
    f.rules.forEach((r, i) => {
      if (r.ai) ctx.addIssue({ code: 'custom', path: ['rules', i, 'ai'], message: need });
    });
    if (f.ai?.intent === 'llm') ctx.addIssue({ code: 'custom', path: ['ai', 'intent'], message: need });
  });

type FileShape = z.infer<typeof FileSchema>;

// ---- loading ----

export type ConfigFormat = 'yaml' | 'json';

/** The format a file name implies: .json is JSON, anything else YAML (which also reads JSON). */
export const formatOf = (path: string): ConfigFormat => (/\.json$/i.test(path) ? 'json' : 'yaml');

/** Reads and checks the automation file; throws AutomationConfigError naming the line and field. */
export function loadAutomationConfig(path: string): AutomationConfig {
  let textContent: string;
  try {
    textContent = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AutomationConfigError(path, [
      { line: null, path: '', message: `cannot read the file (${code ?? (err as Error).message})` },
    ]);
  }
  return parseAutomationConfig(textContent, { format: formatOf(path), source: path });
}

/** Checks automation config text; `source` names the file in errors. */
export function parseAutomationConfig(
  input: string,
  options: { format: ConfigFormat; source?: string },
): AutomationConfig {
  const source = options.source ?? (options.format === 'json' ? 'automation.json' : 'automation.yaml');
  const fail = (issues: AutomationIssue[]): never => {
    throw new AutomationConfigError(
      source,
      issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)),
    );
  };

  const lineCounter = new LineCounter();
  // YAML is a superset of JSON: the same parser gives node positions for both formats.
  const doc = parseDocument(input, { lineCounter, prettyErrors: false });
  const lineAt = (offset: number) => lineCounter.linePos(offset).line;

  let data: unknown;
  if (options.format === 'json') {
    try {
      data = JSON.parse(input);
    } catch (err) {
      const message = (err as Error).message;
      const pos = /at position (\d+)/.exec(message);
      const line = /\(line (\d+) column \d+\)/.exec(message);
      fail([
        {
          line: line ? Number(line[1]) : pos ? lineAt(Number(pos[1])) : null,
          path: '',
          message: `invalid JSON: ${message.replace(/ in JSON at position \d+.*$/, '')}`,
        },
      ]);
    }
    // JSON.parse keeps the last of duplicate keys silently; a config with two is a mistake.
    const dups = doc.errors.filter((e) => e.code === 'DUPLICATE_KEY');
    if (dups.length) fail(dups.map((e) => ({ line: lineAt(e.pos[0]), path: '', message: 'duplicate key' })));
  } else {
    if (doc.errors.length)
      fail(
        doc.errors.map((e) => ({
          line: lineAt(e.pos[0]),
          path: '',
          message: `invalid YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
        })),
      );
    data = doc.toJS();
  }

  if (data === null || data === undefined)
    fail([{ line: null, path: '', message: 'the file is empty: it needs a rules list' }]);

  const parsed = FileSchema.safeParse(data);
  if (!parsed.success) {
    fail(
      parsed.error.issues.flatMap((issue) =>
        toIssues(issue).map(({ path, message }) => {
          const offset = doc.errors.length ? null : offsetOf(doc.contents, path);
          return { line: offset === null ? null : lineAt(offset), path: fieldPath(path), message };
        }),
      ),
    );
  }
  return compile(parsed.data!);
}

function toIssues(i: z.core.$ZodIssue): { path: PropertyKey[]; message: string }[] {
  // One value or a list: report the branch that got furthest (the list, when a list was given).
  if (i.code === 'invalid_union' && i.errors.length) {
    const depth = (issues: z.core.$ZodIssue[]) =>
      Math.max(...issues.map((x) => x.path.length + (x.code === 'invalid_type' ? 0 : 0.5)));
    const best = i.errors.reduce((a, b) => (depth(b) > depth(a) ? b : a));
    return best.flatMap((x) => toIssues({ ...x, path: [...i.path, ...x.path] } as z.core.$ZodIssue));
  }
  if (i.code === 'unrecognized_keys')
    return i.keys.map((k) => ({ path: [...i.path, k], message: 'unknown field' }));
  if (i.code === 'invalid_type' && / received undefined$/.test(i.message))
    return [{ path: i.path, message: 'is required' }];
  if (i.code === 'too_big' && i.origin === 'array')
    return [{ path: [...i.path, Number(i.maximum)], message: i.message }];
  return [{ path: i.path, message: i.message }];
}

const fieldPath = (path: PropertyKey[]) =>
  path
    .reduce<string>((p, k) => (typeof k === 'number' ? `${p}[${k}]` : `${p}.${String(k)}`), '')
    .replace(/^\./, '');

/**
 * Where a field sits in the file: the deepest node on its path that exists. A map entry is found by
 * its key (a `when:` line, an unknown key), a list item by the item itself.
 */
function offsetOf(root: unknown, path: PropertyKey[]): number | null {
  let node = root as Node | null;
  let at: number | null = (node as Node | null)?.range?.[0] ?? null;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg),
      );
      if (!pair) break;
      at = (pair.key as Node).range?.[0] ?? at;
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      at = item.range?.[0] ?? at;
      node = item;
    } else break;
  }
  return at;
}

const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

/** A keyword as a whole word: no letter, digit or underscore right before or after it. */
export function keywordPattern(keyword: string): RegExp {
  const escaped = keyword
    .normalize('NFC')
    .trim()
    .replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')
    .replace(/\s+/g, '\\s+');
  return new RegExp(`(?<![\\p{L}\\p{N}\\p{M}_])${escaped}(?![\\p{L}\\p{N}\\p{M}_])`, 'iu');
}

function compile(file: FileShape): AutomationConfig {
  const rules = file.rules.map((r): Rule => {
    const w = r.when;
    const when: Trigger =
      w.event === 'comment'
        ? {
            comment:
              w.keyword === undefined
                ? true
                : { keyword: list(w.keyword), patterns: list(w.keyword).map(keywordPattern) },
          }
        : w.keyword !== undefined
          ? { keyword: list(w.keyword), patterns: list(w.keyword).map(keywordPattern) }
          : w.regex !== undefined
            ? { regex: w.regex, pattern: new RegExp(w.regex, 'u') }
            : w.payload !== undefined
              ? { payload: list(w.payload) }
              : w.event !== undefined
                ? { event: w.event as TriggerEvent }
                : w.referral !== undefined
                  ? { referral: list(w.referral) }
                  : { intent: list(w.intent!) };
    const rule: Rule = { name: r.name, when };
    if (r.reply) rule.reply = r.reply;
    if (r.handover) rule.handover = r.handover;
    if (r.tag !== undefined) rule.tag = list(r.tag);
    if (r.webhook) rule.webhook = r.webhook;
    if (r.ai) rule.ai = true;
    if (r.privateReply) rule.privateReply = r.privateReply;
    if (r.publicReply !== undefined) rule.publicReply = r.publicReply;
    return rule;
  });
  const ai = file.ai ?? { provider: 'none', timeoutMs: 10_000, intent: 'offline' };
  const settings: AiSettings = { provider: ai.provider, timeoutMs: ai.timeoutMs, intent: ai.intent };
  if (ai.model !== undefined) settings.model = ai.model;
  if (ai.system !== undefined) settings.system = ai.system;
  if (ai.fallback)
    settings.fallback = ai.fallback.text !== undefined ? { text: ai.fallback.text } : { handover: 'human' };
  return { rules, ai: settings };
}
