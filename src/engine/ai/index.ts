export { type AnthropicOptions, AnthropicProvider, anthropicMessages } from './anthropic.ts';
export {
  CONTEXT_TURNS,
  classifyWithFallback,
  DEFAULT_TIMEOUT_MS,
  type DraftRequest,
  type DraftResult,
  draftWithFallback,
  type FallbackReason,
  fitBytes,
  toPlainText,
} from './draft.ts';
export { type AiEnv, createAi, MissingApiKeyError } from './factory.ts';
export { NoAi } from './none.ts';
export { type OpenAiOptions, OpenAiProvider, openAiMessages } from './openai.ts';
export {
  type AiProvider,
  type AiProviderName,
  type AiTurn,
  CLASSIFY_PROMPT,
  DEFAULT_MODELS,
  type DraftInput,
  NoAiProviderError,
  parseIntent,
} from './provider.ts';
