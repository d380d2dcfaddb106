import OpenAI from 'openai';
import type { Intent } from '../intent/classifier.ts';
import { type AiProvider, CLASSIFY_PROMPT, type DraftInput, parseIntent } from './provider.ts';

export interface OpenAiOptions {
  apiKey: string;
  /** Any OpenAI-compatible server, e.g. `http://127.0.0.1:11434/v1`; default OpenAI's. */
  baseURL?: string;
  model: string;
  /** SDK retries; default 0 (a failure goes to the configured fallback instead). */
  maxRetries?: number;
  /** SDK request timeout in ms (draftWithFallback enforces its own). */
  timeoutMs?: number;
}

type ChatMessage = { role: 'system' | 'user' | 'assistant'; content: string };

/** Chat Completions messages for a draft: the system prompt, then every turn in order (customer →
 * user, business → assistant). */
export function openAiMessages(input: Pick<DraftInput, 'system' | 'turns'>): ChatMessage[] {
  const messages: ChatMessage[] = [];
  if (input.system) messages.push({ role: 'system', content: input.system });
  for (const t of input.turns)
    messages.push({ role: t.role === 'customer' ? 'user' : 'assistant', content: t.text });
  return messages;
}

/** Drafts through the official `openai` SDK (chat.completions), against OpenAI or any compatible server. */
export class OpenAiProvider implements AiProvider {
  readonly name = 'openai' as const;
  readonly model: string;
  readonly #client: OpenAI;

  constructor(options: OpenAiOptions) {
    this.model = options.model;
    this.#client = new OpenAI({
      apiKey: options.apiKey,
      // Explicit, so that the SDK never reads process.env behind the caller's back.
      baseURL: options.baseURL ?? 'https://api.openai.com/v1',
      maxRetries: options.maxRetries ?? 0,
      ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
    });
  }

  async draftReply(input: DraftInput): Promise<string> {
    const res = await this.#client.chat.completions.create(
      { model: this.model, messages: openAiMessages(input) },
      { signal: input.signal },
    );
    return res.choices[0]?.message?.content ?? '';
  }

  async classify(text: string, signal?: AbortSignal): Promise<Intent> {
    const res = await this.#client.chat.completions.create(
      {
        model: this.model,
        messages: [
          { role: 'system', content: CLASSIFY_PROMPT },
          { role: 'user', content: text },
        ],
      },
      { signal },
    );
    return parseIntent(res.choices[0]?.message?.content ?? '');
  }
}
