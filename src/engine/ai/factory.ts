import { ConfigError } from '../../config.ts';
import type { AiSettings } from '../automation/config.ts';
import { AnthropicProvider } from './anthropic.ts';
import { NoAi } from './none.ts';
import { OpenAiProvider } from './openai.ts';
import { type AiProvider, DEFAULT_MODELS } from './provider.ts';

/** The environment the providers read (normally process.env): OPENAI_API_KEY, OPENAI_BASE_URL,
 * ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL. Nothing else is read, and process.env is never read directly. */
export type AiEnv = Readonly<Record<string, string | undefined>>;

/** The chosen provider's API key is not set. `variable` names it. */
export class MissingApiKeyError extends ConfigError {
  readonly variable: string;
  constructor(provider: 'openai' | 'anthropic', variable: string, hint = '') {
    super([`${variable} is not set, but ai.provider is ${provider}${hint}`]);
    this.name = 'MissingApiKeyError';
    this.variable = variable;
  }
}

const nonEmpty = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v.trim());

/** The provider for the automation file's `ai:` settings. Throws MissingApiKeyError when the chosen
 * provider's key is missing. `provider: none` needs nothing and never touches the network. */
export function createAi(settings: AiSettings, env: AiEnv): AiProvider {
  switch (settings.provider) {
    case 'none':
      return new NoAi();
    case 'openai': {
      const apiKey = nonEmpty(env['OPENAI_API_KEY']);
      if (!apiKey)
        throw new MissingApiKeyError(
          'openai',
          'OPENAI_API_KEY',
          ' (for a local OpenAI-compatible server set OPENAI_BASE_URL and any non-empty key)',
        );
      const baseURL = nonEmpty(env['OPENAI_BASE_URL']);
      return new OpenAiProvider({
        apiKey,
        model: settings.model ?? DEFAULT_MODELS.openai,
        timeoutMs: settings.timeoutMs,
        ...(baseURL ? { baseURL } : {}),
      });
    }
    case 'anthropic': {
      const apiKey = nonEmpty(env['ANTHROPIC_API_KEY']);
      if (!apiKey) throw new MissingApiKeyError('anthropic', 'ANTHROPIC_API_KEY');
      const baseURL = nonEmpty(env['ANTHROPIC_BASE_URL']);
      return new AnthropicProvider({
        apiKey,
        model: settings.model ?? DEFAULT_MODELS.anthropic,
        timeoutMs: settings.timeoutMs,
        ...(baseURL ? { baseURL } : {}),
      });
    }
  }
}
