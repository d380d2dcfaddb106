import { describe, expect, it } from 'vitest';
import { MissingApiKeyError } from '../../../src/engine/ai/index.ts';
import { AutomationConfigError } from '../../../src/engine/automation/config.ts';
import { startWithConfig } from './support.ts';

// The automation file is checked when igdm starts: a mistake stops the start with the file, line
// and field, instead of an automation that misbehaves later.

async function startFails(config: string, env: Record<string, string> = {}, file?: string) {
  const started = startWithConfig(config, { env, ...(file && { file }) });
  const err = await started.then(
    async (svc) => {
      await svc.stop();
      return null;
    },
    (e: unknown) => e,
  );
  expect(err, 'the service should not start').toBeInstanceOf(Error);
  return err as Error;
}

describe('the automation file at start', () => {
  it('a mistake names the line and the field', async () => {
    const err = await startFails(`rules:
  - name: pricing
    when: { keyword: price }
    reply: { type: text, text: "Hi {{firstname}}" }
`);
    expect(err).toBeInstanceOf(AutomationConfigError);
    expect(err.message).toMatch(
      /automation\.yaml:4: rules\[0\]\.reply\.text: unknown placeholder \{\{firstname\}\}/,
    );
  });

  it('a rule that asks the AI, with no AI provider, is refused (it would hand every such conversation to a human)', async () => {
    const err = await startFails(`rules:
  - name: pricing
    when: { keyword: price }
    reply: { type: text, text: "From $10." }
  - name: rest
    when: { intent: [enquiry, general] }
    ai: true
`);
    expect(err).toBeInstanceOf(AutomationConfigError);
    expect(err.message).toBe(
      `${(err as AutomationConfigError).file}:7: rules[1].ai: needs an AI provider: set ai.provider to openai or anthropic`,
    );
  });

  it('intent by the LLM with no AI provider is refused', async () => {
    const err = await startFails(`rules:
  - name: orders
    when: { intent: order }
    handover: human
ai:
  intent: llm
`);
    expect(err.message).toMatch(/automation\.yaml:6: ai\.intent: needs an AI provider/);
  });

  it('a provider without its API key is refused, naming the variable', async () => {
    const err = await startFails(
      `rules:
  - name: rest
    when: { keyword: hi }
    ai: true
ai: { provider: openai }
`,
      { OPENAI_API_KEY: '' },
    );
    expect(err).toBeInstanceOf(MissingApiKeyError);
    expect((err as MissingApiKeyError).variable).toBe('OPENAI_API_KEY');
  });

  it('JSON works as well as YAML', async () => {
    const err = await startFails(
      JSON.stringify(
        { rules: [{ name: 'a', when: { keyword: 'x' }, reply: { type: 'txt', text: 'y' } }] },
        null,
        2,
      ),
      {},
      'automation.json',
    );
    expect(err.message).toMatch(/automation\.json:\d+: rules\[0\]\.reply\.type: /);
  });
});
