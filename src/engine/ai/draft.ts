import { LIMITS } from '../../meta/send.ts';
import type { AiSettings } from '../automation/config.ts';
import type { Intent } from '../intent/classifier.ts';
import { classifyIntent } from '../intent/classifier.ts';
import { type AiProvider, type AiProviderName, type AiTurn, NoAiProviderError } from './provider.ts';

/** How many turns of the conversation the LLM sees (the most recent ones). */
export const CONTEXT_TURNS = 12;
/** ai.timeoutMs when not set. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** Why no AI reply was sent. */
export type FallbackReason = 'no-provider' | 'timeout' | 'error' | 'empty';

/** What happened to a draft; never silence without a record.
 * - `reply`: the LLM's answer, as plain text within Instagram's limits.
 * - `text`: the configured fallback text, and why it was used.
 * - `handover`: to a human, because the fallback says so (`configured: true`) or because there is
 *   no fallback (`configured: false`), and why. */
export type DraftResult =
  | { kind: 'reply'; text: string; provider: AiProviderName; model: string }
  | { kind: 'text'; text: string; reason: FallbackReason; detail: string }
  | { kind: 'handover'; reason: FallbackReason; detail: string; configured: boolean };

export interface DraftRequest {
  /** The conversation, oldest first; only the last CONTEXT_TURNS are sent. */
  turns: AiTurn[];
  /** Overrides settings.system. */
  system?: string;
  /** The caller's cancellation (e.g. shutdown). Unlike the timeout, this rejects with its reason
   * instead of falling back: the job did not finish and will be run again. */
  signal?: AbortSignal;
}

class AiTimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'AiTimeoutError';
  }
}

/** Asks the AI for a reply to the conversation and returns it as a DM, or the configured fallback. */
export async function draftWithFallback(
  ai: AiProvider,
  settings: Pick<AiSettings, 'system' | 'timeoutMs' | 'fallback'>,
  request: DraftRequest,
): Promise<DraftResult> {
  const timeoutMs = settings.timeoutMs > 0 ? settings.timeoutMs : DEFAULT_TIMEOUT_MS;
  const system = request.system ?? settings.system;
  const turns = request.turns.slice(-CONTEXT_TURNS);
  const controller = new AbortController();
  const signal = request.signal ? AbortSignal.any([controller.signal, request.signal]) : controller.signal;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new AiTimeoutError(timeoutMs);
      controller.abort(err);
      reject(err);
    }, timeoutMs);
  });
  let answer: string;
  try {
    request.signal?.throwIfAborted();
    const asked = ai.draftReply({ ...(system ? { system } : {}), turns, signal });
    asked.catch(() => {}); // it may lose the race with the timeout
    answer = await Promise.race([asked, timeout]);
  } catch (err) {
    if (request.signal?.aborted) throw request.signal.reason;
    if (err instanceof NoAiProviderError) return fallback(settings, 'no-provider', err.message);
    if (err instanceof AiTimeoutError) return fallback(settings, 'timeout', `${ai.name}: ${err.message}`);
    return fallback(settings, 'error', `${ai.name}: ${describe(err)}`);
  } finally {
    clearTimeout(timer);
  }
  const text = fitBytes(toPlainText(answer));
  if (text === '') return fallback(settings, 'empty', `${ai.name}: empty answer`);
  return { kind: 'reply', text, provider: ai.name, model: ai.model ?? '' };
}

function fallback(
  settings: Pick<AiSettings, 'fallback'>,
  reason: FallbackReason,
  detail: string,
): DraftResult {
  const f = settings.fallback;
  if (f && 'text' in f) return { kind: 'text', text: f.text, reason, detail };
  return { kind: 'handover', reason, detail, configured: f !== undefined };
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const status = (err as { status?: unknown }).status;
    return `${typeof status === 'number' ? `HTTP ${status}: ` : ''}${err.message}`.slice(0, 500);
  }
  return String(err).slice(0, 500);
}

/** The intent of a text by the provider's LLM, or offline (classifyIntent) when the provider has no
 * classifier, fails or is slower than timeoutMs. */
export async function classifyWithFallback(
  ai: AiProvider,
  text: string,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<{ intent: Intent; source: 'llm' | 'offline'; detail?: string }> {
  if (ai.classify && ai.name !== 'none') {
    try {
      return { intent: await ai.classify(text, AbortSignal.timeout(timeoutMs)), source: 'llm' };
    } catch (err) {
      return {
        intent: classifyIntent(text).intent,
        source: 'offline',
        detail: `${ai.name}: ${describe(err)}`,
      };
    }
  }
  return { intent: classifyIntent(text).intent, source: 'offline' };
}

// ---- plain text within Instagram's limits ----

/** Markdown as a DM: code fences, headings, emphasis, bullets, quotes, rules and link syntax removed
 * (link text kept with its URL), blank-line runs collapsed. */
export function toPlainText(markdown: string): string {
  let s = markdown.replace(/\r\n?/g, '\n');
  // Fenced code blocks: keep the code, drop the fences (and the language tag).
  s = s.replace(/^[ \t]*(```|~~~)[^\n]*\n?([\s\S]*?)^[ \t]*\1[ \t]*$/gm, (_m, _f, code: string) =>
    code.replace(/\n$/, ''),
  );
  s = s.replace(/^[ \t]*(```|~~~)[^\n]*$/gm, ''); // an unclosed fence
  s = s.replace(/^[ \t]{0,3}(?:[-*_][ \t]*){3,}$/gm, ''); // horizontal rules
  s = s.replace(/^[ \t]{0,3}#{1,6}[ \t]+(.*?)[ \t]*#*[ \t]*$/gm, '$1'); // headings
  s = s.replace(/^[ \t]*(?:>[ \t]?)+/gm, ''); // block quotes
  s = s.replace(/^[ \t]*[-*+•][ \t]+/gm, ''); // bullets
  s = s.replace(/!\[([^\]]*)\]\([^)]*\)/g, '$1'); // images
  s = s.replace(/\[([^\]]+)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g, (_m, label: string, url: string) =>
    label === url ? url : `${label} (${url})`,
  );
  s = s.replace(/`([^`\n]+)`/g, '$1'); // inline code
  s = s.replace(/(\*\*|__)(?=\S)([\s\S]*?\S)\1/g, '$2'); // bold
  s = s.replace(/~~(?=\S)([\s\S]*?\S)~~/g, '$1'); // strike-through
  s = s.replace(/(^|[^\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])/g, '$1$2'); // *italic*
  s = s.replace(/(^|[^\w])_(?=\S)([^_\n]*?\S)_(?!\w)/g, '$1$2'); // _italic_ (not snake_case)
  s = s
    .split('\n')
    .map((line) => line.replace(/[ \t]+$/, ''))
    .join('\n');
  return s.replace(/\n{3,}/g, '\n\n').trim();
}

const ELLIPSIS = '…';
const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** The text when it fits in maxBytes of UTF-8, else cut at the last word boundary (never inside a
 * character or an emoji sequence) and ended with '…', the whole within maxBytes. */
export function fitBytes(text: string, maxBytes: number = LIMITS.textBytes): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const budget = maxBytes - Buffer.byteLength(ELLIPSIS);
  let end = 0; // string index where the kept prefix ends
  let bytes = 0;
  let space = -1; // string index of the last whitespace within the budget
  let spaceBytes = 0;
  for (const { segment, index } of segmenter.segment(text)) {
    const size = Buffer.byteLength(segment);
    if (bytes + size > budget) break;
    if (/^\s+$/.test(segment)) {
      space = index;
      spaceBytes = bytes;
    }
    bytes += size;
    end = index + segment.length;
  }
  // At a word boundary already, or back to the last one — unless that would throw away most of the
  // text (one huge "word", e.g. a URL), then cut between characters.
  const atBoundary = /\s/.test(text[end] ?? '');
  const kept = text.slice(0, atBoundary || space < 0 || spaceBytes < budget / 2 ? end : space);
  return kept.replace(/[\s,;:.\-–—]+$/u, '') + ELLIPSIS;
}
