import Anthropic from '@anthropic-ai/sdk';
import type { Intent } from '../intent/classifier.ts';
import { type AiProvider, CLASSIFY_PROMPT, type DraftInput, parseIntent } from './provider.ts';

export interface AnthropicOptions {
  apiKey: string;
  /** Default Anthropic's API. */
  baseURL?: string;
  model: string;
  /** SDK retries; default 0 (a failure goes to the configured fallback instead). */
  maxRetries?: number;
  /** SDK request timeout in ms (draftWithFallback enforces its own). */
  timeoutMs?: number;
  /** max_tokens of a draft; default 512 (a DM is at most 1000 bytes). */
  maxTokens?: number;
}

type Message = { role: 'user' | 'assistant'; content: string };

/** Messages API messages for a draft (the system prompt is a separate parameter): customer → user,
 * business → assistant, consecutive turns of one side joined by a newline (the API wants the roles
 * to alternate), and leading business turns dropped (the first message must be the user's). */
export function anthropicMessages(turns: DraftInput['turns']): Message[] {
  const messages: Message[] = [];
  for (const t of turns) {
    const role = t.role === 'customer' ? 'user' : 'assistant';
    const last = messages.at(-1);
    if (last?.role === role) last.content += `\n${t.text}`;
    else if (messages.length > 0 || role === 'user') messages.push({ role, content: t.text });
  }
  return messages;
}

function textOf(content: Anthropic.ContentBlock[]): string {
  return content
    .map((b) => (b.type === 'text' ? b.text : ''))
    .join('')
    .trim();
}

/** Drafts through `@anthropic-ai/sdk` (messages.create). */
export class AnthropicProvider implements AiProvider {
  readonly name = 'anthropic' as const;
  readonly model: string;
  readonly #client: Anthropic;
  readonly #maxTokens: number;

  constructor(options: AnthropicOptions) {
    this.model = options.model;
    this.#maxTokens = options.maxTokens ?? 512;
    this.#client = new Anthropic({
      apiKey: options.apiKey,
      // Explicit, so that the SDK never reads process.env behind the caller's back.
      baseURL: options.baseURL ?? 'https://api.anthropic.com',
      maxRetries: options.maxRetries ?? 0,
      ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
    });
  }

  async draftReply(input: DraftInput): Promise<string> {
    const res = await this.#client.messages.create(
      {
        model: this.model,
        max_tokens: this.#maxTokens,
        ...(input.system ? { system: input.system } : {}),
        messages: anthropicMessages(input.turns),
      },
      { signal: input.signal },
    );
    return textOf(res.content);
  }

  async classify(text: string, signal?: AbortSignal): Promise<Intent> {
    const res = await this.#client.messages.create(
      {
        model: this.model,
        max_tokens: 8,
        system: CLASSIFY_PROMPT,
        messages: [{ role: 'user', content: text }],
      },
      { signal },
    );
    return parseIntent(textOf(res.content));
  }
}
