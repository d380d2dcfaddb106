import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type AiTurn,
  AnthropicProvider,
  anthropicMessages,
  CLASSIFY_PROMPT,
  CONTEXT_TURNS,
  classifyWithFallback,
  createAi,
  draftWithFallback,
  MissingApiKeyError,
  NoAi,
  NoAiProviderError,
  OpenAiProvider,
  parseIntent,
} from '../../../src/engine/ai/index.ts';
import type { AiSettings } from '../../../src/engine/automation/config.ts';
import { classifyIntent } from '../../../src/engine/intent/classifier.ts';
import { type FakeLlm, type Received, startFakeLlm } from './fake-llm.ts';

// The AI seam against a local fake of the OpenAI and Anthropic APIs (127.0.0.1 only): the context
// sent, Instagram's limits on the answer, timeout, errors and the configured fallbacks.

let fake: FakeLlm;
beforeAll(async () => {
  fake = await startFakeLlm();
});
afterAll(() => fake.close());
afterEach(() => {
  fake.received.length = 0;
  fake.answer = () => ({ text: 'ok' });
  vi.unstubAllGlobals();
});

const SYSTEM = 'You are a friendly Instagram DM assistant. Max 2 short sentences.';
const settings = (over: Partial<AiSettings> = {}): AiSettings => ({
  provider: 'openai',
  model: 'gpt-4o-mini',
  system: SYSTEM,
  timeoutMs: 2_000,
  intent: 'offline',
  ...over,
});
/** 15 turns, customer first, alternating: c0 b1 c2 b3 ... c14. */
const conversation = (n = 15): AiTurn[] =>
  Array.from({ length: n }, (_, i) => ({
    role: i % 2 === 0 ? ('customer' as const) : ('business' as const),
    text: `${i % 2 === 0 ? 'c' : 'b'}${i}`,
  }));
/** The API key a request carried (`x-api-key`, or `Authorization: Bearer`, as the SDK version sends it). */
const keyOf = (r: Received) => r.headers['x-api-key'] ?? r.headers.authorization?.replace(/^Bearer /, '');
const openai = () =>
  new OpenAiProvider({ apiKey: 'test-key', baseURL: `${fake.origin}/v1`, model: 'gpt-4o-mini' });
const anthropic = () =>
  new AnthropicProvider({ apiKey: 'test-key', baseURL: fake.origin, model: 'claude-haiku-4-5' });

describe('OpenAI-compatible provider', () => {
  it('sends the system prompt and the last 12 turns in order with their roles', async () => {
    fake.answer = () => ({ text: 'Prices start at $10.' });
    const result = await draftWithFallback(openai(), settings(), { turns: conversation(15) });
    expect(result).toEqual({
      kind: 'reply',
      text: 'Prices start at $10.',
      provider: 'openai',
      model: 'gpt-4o-mini',
    });
    expect(fake.received).toHaveLength(1);
    const req = fake.received[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v1/chat/completions');
    expect(keyOf(req)).toBe('test-key');
    expect(req.body['model']).toBe('gpt-4o-mini');
    expect(CONTEXT_TURNS).toBe(12);
    expect(req.body['messages']).toEqual([
      { role: 'system', content: SYSTEM },
      { role: 'assistant', content: 'b3' },
      { role: 'user', content: 'c4' },
      { role: 'assistant', content: 'b5' },
      { role: 'user', content: 'c6' },
      { role: 'assistant', content: 'b7' },
      { role: 'user', content: 'c8' },
      { role: 'assistant', content: 'b9' },
      { role: 'user', content: 'c10' },
      { role: 'assistant', content: 'b11' },
      { role: 'user', content: 'c12' },
      { role: 'assistant', content: 'b13' },
      { role: 'user', content: 'c14' },
    ]);
  });

  it('sends every turn of a short conversation and no system message when there is none', async () => {
    await draftWithFallback(openai(), settings({ system: undefined }), {
      turns: [{ role: 'customer', text: 'hi' }],
    });
    expect(fake.received[0]!.body['messages']).toEqual([{ role: 'user', content: 'hi' }]);
  });

  it('strips markdown from the answer', async () => {
    fake.answer = () => ({
      text: [
        '## Our prices',
        '',
        'Hi **Ana**! Here is _what_ we have:',
        '- Mugs: `$10`',
        '* Shirts: __$20__',
        '',
        '```text',
        'SALE10',
        '```',
        'See [our shop](https://shop.example).',
      ].join('\n'),
    });
    const result = await draftWithFallback(openai(), settings(), { turns: conversation(1) });
    expect(result).toMatchObject({ kind: 'reply' });
    expect(result.kind === 'reply' && result.text).toBe(
      [
        'Our prices',
        '',
        'Hi Ana! Here is what we have:',
        'Mugs: $10',
        'Shirts: $20',
        '',
        'SALE10',
        'See our shop (https://shop.example).',
      ].join('\n'),
    );
  });

  it('cuts a long answer to 1000 bytes of UTF-8 at a word boundary with an ellipsis', async () => {
    fake.answer = () => ({ text: 'Ça coûte **dix** euros. '.repeat(80) });
    const result = await draftWithFallback(openai(), settings(), { turns: conversation(1) });
    if (result.kind !== 'reply') throw new Error(`expected a reply, got ${JSON.stringify(result)}`);
    expect(Buffer.byteLength(result.text)).toBeLessThanOrEqual(1000);
    expect(Buffer.byteLength(result.text)).toBeGreaterThan(950);
    expect(result.text.endsWith('…')).toBe(true);
    expect(result.text).not.toContain('**');
    // The kept part ends with a whole word of the answer.
    expect(result.text.slice(0, -1)).toMatch(/(Ça|coûte|dix|euros)$/);
  });

  it('falls back to the configured text when the server is slower than the timeout', async () => {
    fake.answer = () => ({ text: 'too late', delayMs: 1_500 });
    const started = performance.now();
    const result = await draftWithFallback(
      openai(),
      settings({ timeoutMs: 150, fallback: { text: 'We will reply soon!' } }),
      {
        turns: conversation(3),
      },
    );
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(result).toMatchObject({ kind: 'text', text: 'We will reply soon!', reason: 'timeout' });
    expect(result.kind === 'text' && result.detail).toContain('150 ms');
    expect(fake.received).toHaveLength(1); // no retry
  });

  it('falls back to the configured text on a server error', async () => {
    fake.answer = () => ({ status: 500 });
    const result = await draftWithFallback(openai(), settings({ fallback: { text: 'One moment please.' } }), {
      turns: conversation(3),
    });
    expect(result).toMatchObject({ kind: 'text', text: 'One moment please.', reason: 'error' });
    expect(result.kind === 'text' && result.detail).toContain('500');
    expect(fake.received).toHaveLength(1); // no retry
  });

  it('hands over with the reason when no fallback is configured', async () => {
    fake.answer = () => ({ status: 500 });
    const result = await draftWithFallback(openai(), settings(), { turns: conversation(3) });
    expect(result).toMatchObject({ kind: 'handover', reason: 'error', configured: false });
    expect(result.kind === 'handover' && result.detail).toMatch(/openai: HTTP 500/);
  });

  it('hands over when the fallback says so, and on an empty answer', async () => {
    fake.answer = () => ({ text: '  **  ** \n' });
    const result = await draftWithFallback(openai(), settings({ fallback: { handover: 'human' } }), {
      turns: conversation(3),
    });
    expect(result).toEqual({
      kind: 'handover',
      reason: 'empty',
      detail: 'openai: empty answer',
      configured: true,
    });
  });

  it("rejects (no fallback) when the caller's own signal aborts", async () => {
    fake.answer = () => ({ text: 'late', delayMs: 1_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('shutting down')), 50);
    await expect(
      draftWithFallback(openai(), settings({ fallback: { text: 'x' } }), {
        turns: conversation(1),
        signal: controller.signal,
      }),
    ).rejects.toThrow('shutting down');
  });

  it('classifies with the LLM, reading one word among the intents', async () => {
    const answers = [
      'order',
      'Enquiry.',
      ' collab\n',
      'SUPPORT',
      'general',
      'inquiry',
      'banana',
      '',
      'I think order',
    ];
    const got: string[] = [];
    for (const text of answers) {
      fake.answer = () => ({ text });
      got.push(await openai().classify('where is my parcel?'));
    }
    expect(got).toEqual([
      'order',
      'enquiry',
      'collab',
      'support',
      'general',
      'enquiry',
      'general',
      'general',
      'general',
    ]);
    expect(fake.received[0]!.body['messages']).toEqual([
      { role: 'system', content: CLASSIFY_PROMPT },
      { role: 'user', content: 'where is my parcel?' },
    ]);
  });

  it('classifyWithFallback uses the LLM, and the offline classifier when the LLM fails', async () => {
    fake.answer = () => ({ text: 'collab' });
    expect(await classifyWithFallback(openai(), 'hello')).toEqual({ intent: 'collab', source: 'llm' });
    fake.answer = () => ({ status: 500 });
    const text = 'I want a refund, the mug arrived broken';
    const r = await classifyWithFallback(openai(), text);
    expect(r).toMatchObject({ intent: classifyIntent(text).intent, source: 'offline' });
    expect(r.detail).toContain('500');
  });
});

describe('Anthropic provider', () => {
  it('sends the system prompt and the last 12 turns in order with their roles', async () => {
    fake.answer = () => ({ text: 'Hi! Prices start at **$10**.' });
    const result = await draftWithFallback(anthropic(), settings({ provider: 'anthropic', model: 'x' }), {
      turns: conversation(14),
    });
    expect(result).toEqual({
      kind: 'reply',
      text: 'Hi! Prices start at $10.',
      provider: 'anthropic',
      model: 'claude-haiku-4-5',
    });
    const req = fake.received[0]!;
    expect(req.path).toBe('/v1/messages');
    expect(keyOf(req)).toBe('test-key');
    expect(req.body['model']).toBe('claude-haiku-4-5');
    expect(req.body['system']).toBe(SYSTEM);
    expect(typeof req.body['max_tokens']).toBe('number');
    expect(req.body['messages']).toEqual([
      { role: 'user', content: 'c2' },
      { role: 'assistant', content: 'b3' },
      { role: 'user', content: 'c4' },
      { role: 'assistant', content: 'b5' },
      { role: 'user', content: 'c6' },
      { role: 'assistant', content: 'b7' },
      { role: 'user', content: 'c8' },
      { role: 'assistant', content: 'b9' },
      { role: 'user', content: 'c10' },
      { role: 'assistant', content: 'b11' },
      { role: 'user', content: 'c12' },
      { role: 'assistant', content: 'b13' },
    ]);
  });

  it('joins consecutive turns of one side and starts with the customer', () => {
    expect(
      anthropicMessages([
        { role: 'business', text: 'Welcome!' },
        { role: 'customer', text: 'hi' },
        { role: 'customer', text: 'price?' },
        { role: 'business', text: '$10' },
        { role: 'customer', text: 'thanks' },
      ]),
    ).toEqual([
      { role: 'user', content: 'hi\nprice?' },
      { role: 'assistant', content: '$10' },
      { role: 'user', content: 'thanks' },
    ]);
  });

  it('falls back on a timeout and on a server error', async () => {
    const s = settings({ provider: 'anthropic', timeoutMs: 150, fallback: { text: 'Back soon' } });
    fake.answer = () => ({ text: 'late', delayMs: 1_500 });
    expect(await draftWithFallback(anthropic(), s, { turns: conversation(1) })).toMatchObject({
      kind: 'text',
      text: 'Back soon',
      reason: 'timeout',
    });
    fake.answer = () => ({ status: 500 });
    expect(await draftWithFallback(anthropic(), s, { turns: conversation(1) })).toMatchObject({
      kind: 'text',
      text: 'Back soon',
      reason: 'error',
    });
    expect(
      await draftWithFallback(anthropic(), { ...s, fallback: undefined }, { turns: conversation(1) }),
    ).toMatchObject({
      kind: 'handover',
      reason: 'error',
      configured: false,
    });
  });

  it('classifies with the LLM', async () => {
    fake.answer = () => ({ text: 'Support' });
    expect(await anthropic().classify('my order is broken')).toBe('support');
    expect(fake.received[0]!.body['system']).toBe(CLASSIFY_PROMPT);
    expect(fake.received[0]!.body['messages']).toEqual([{ role: 'user', content: 'my order is broken' }]);
  });
});

describe('createAi', () => {
  it('names the missing API key variable', () => {
    expect(() => createAi(settings({ provider: 'openai' }), {})).toThrow(MissingApiKeyError);
    expect(() => createAi(settings({ provider: 'openai' }), { OPENAI_API_KEY: ' ' })).toThrow(
      /OPENAI_API_KEY/,
    );
    expect(() => createAi(settings({ provider: 'anthropic' }), { OPENAI_API_KEY: 'k' })).toThrow(
      /ANTHROPIC_API_KEY is not set, but ai.provider is anthropic/,
    );
    try {
      createAi(settings({ provider: 'openai' }), {});
    } catch (err) {
      expect((err as MissingApiKeyError).variable).toBe('OPENAI_API_KEY');
    }
  });

  it('reads the base URL and key from the env object it is given', async () => {
    const openaiAi = createAi(settings({ provider: 'openai', model: 'local-model' }), {
      OPENAI_API_KEY: 'env-key',
      OPENAI_BASE_URL: `${fake.origin}/v1`,
    });
    expect(openaiAi).toBeInstanceOf(OpenAiProvider);
    expect(await draftWithFallback(openaiAi, settings(), { turns: conversation(1) })).toMatchObject({
      kind: 'reply',
      model: 'local-model',
    });
    const anthropicAi = createAi(settings({ provider: 'anthropic', model: undefined }), {
      ANTHROPIC_API_KEY: 'env-key',
      ANTHROPIC_BASE_URL: fake.origin,
    });
    expect(anthropicAi).toBeInstanceOf(AnthropicProvider);
    expect(await draftWithFallback(anthropicAi, settings(), { turns: conversation(1) })).toMatchObject({
      kind: 'reply',
      provider: 'anthropic',
    });
    expect(fake.received.map((r) => [r.path, keyOf(r)])).toEqual([
      ['/v1/chat/completions', 'env-key'],
      ['/v1/messages', 'env-key'],
    ]);
  });

  it('gives NoAi for provider none, with no key needed', () => {
    expect(createAi(settings({ provider: 'none' }), {})).toBeInstanceOf(NoAi);
  });
});

describe('NoAi (offline default)', () => {
  it('falls back or hands over without any network', async () => {
    const fetch = vi.fn(() => Promise.reject(new Error('no network in this test')));
    vi.stubGlobal('fetch', fetch);
    const ai = new NoAi();
    await expect(ai.draftReply({ turns: conversation(1) })).rejects.toBeInstanceOf(NoAiProviderError);
    expect(
      await draftWithFallback(
        ai,
        settings({ provider: 'none', fallback: { text: 'Thanks, we will reply soon.' } }),
        {
          turns: conversation(3),
        },
      ),
    ).toMatchObject({ kind: 'text', text: 'Thanks, we will reply soon.', reason: 'no-provider' });
    expect(
      await draftWithFallback(ai, settings({ provider: 'none' }), { turns: conversation(3) }),
    ).toMatchObject({
      kind: 'handover',
      reason: 'no-provider',
      configured: false,
    });
    const text = 'how much is the blue mug?';
    expect(await ai.classify(text)).toBe(classifyIntent(text).intent);
    expect(await classifyWithFallback(ai, text)).toEqual({
      intent: classifyIntent(text).intent,
      source: 'offline',
    });
    expect(fetch).not.toHaveBeenCalled();
    expect(fake.received).toHaveLength(0);
  });
});

describe('parseIntent', () => {
  it('reads the first word, anything else is general', () => {
    expect(parseIntent('"order"')).toBe('order');
    expect(parseIntent('Collab - partnership')).toBe('collab');
    expect(parseIntent('orders')).toBe('general');
    expect(parseIntent('???')).toBe('general');
  });
});
