import { INTENTS, type Intent } from '../intent/classifier.ts';

// The AI seam of the engine: something that drafts a reply from the recent conversation and,
// optionally, classifies a text's intent. Implementations: OpenAiProvider (official `openai` SDK,
// any OpenAI-compatible server), AnthropicProvider (`@anthropic-ai/sdk`) and NoAi (the offline
// default: no drafts, offline intent classification). Callers go through draftWithFallback, which
// adds the context window, Instagram's limits, the timeout and the configured fallback.

export type AiProviderName = 'openai' | 'anthropic' | 'none';

/** One message of the conversation as the AI sees it: the customer, or the business (bot or human). */
export interface AiTurn {
  role: 'customer' | 'business';
  text: string;
}

export interface DraftInput {
  /** The system prompt (ai.system in the automation file). */
  system?: string;
  /** Oldest first; the last one is normally the customer's message to answer. */
  turns: AiTurn[];
  signal?: AbortSignal;
}

export interface AiProvider {
  readonly name: AiProviderName;
  /** The model asked, or null for NoAi. */
  readonly model: string | null;
  /** The model's raw answer (may hold markdown and exceed Instagram's limits; see draftWithFallback).
   * Rejects with NoAiProviderError when there is no provider, or with the SDK's error. */
  draftReply(input: DraftInput): Promise<string>;
  /** The intent of one inbound text. */
  classify?(text: string, signal?: AbortSignal): Promise<Intent>;
}

/** Thrown by NoAi.draftReply: there is no LLM to ask, the caller uses its fallback. */
export class NoAiProviderError extends Error {
  constructor() {
    super('no AI provider configured (ai.provider is none)');
    this.name = 'NoAiProviderError';
  }
}

/** Asked of the LLM to classify a text; the answer is read by parseIntent. */
export const CLASSIFY_PROMPT =
  'Classify the intent of the Instagram direct message sent by a customer to a business. ' +
  'Answer with exactly one word, lower case, among: enquiry (questions about products, prices, ' +
  'availability, opening hours), order (wants to buy, order status, delivery), collab (partnership, ' +
  'influencer or sponsorship proposal), support (problem, complaint, refund, return), general ' +
  '(anything else: greetings, thanks, small talk).';

/** The intent named by an LLM's answer: its first word when that is one of the intents (`inquiry`
 * is read as `enquiry`), `general` for anything else. */
export function parseIntent(answer: string): Intent {
  const first = answer.toLowerCase().match(/[a-z]+/)?.[0];
  if (first === 'inquiry') return 'enquiry';
  return first !== undefined && (INTENTS as readonly string[]).includes(first)
    ? (first as Intent)
    : 'general';
}

/** Default models when ai.model is not set. */
export const DEFAULT_MODELS = { openai: 'gpt-4o-mini', anthropic: 'claude-haiku-4-5' } as const;
