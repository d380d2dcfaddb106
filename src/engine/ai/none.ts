import { classifyIntent, type Intent } from '../intent/classifier.ts';
import { type AiProvider, type DraftInput, NoAiProviderError } from './provider.ts';

/** The offline default (ai.provider: none): never drafts (the caller falls back) and classifies with
 * the offline naive-Bayes classifier. Needs no network. */
export class NoAi implements AiProvider {
  readonly name = 'none' as const;
  readonly model = null;

  async draftReply(_input: DraftInput): Promise<string> {
    throw new NoAiProviderError();
  }

  async classify(text: string): Promise<Intent> {
    return classifyIntent(text).intent;
  }
}
