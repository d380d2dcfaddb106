import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SandboxService } from '../../send/support.ts';
import { type Answer, type FakeLlm, type Received, startFakeLlm } from '../ai/fake-llm.ts';
import {
  conversation,
  fakeOpenAiEnv,
  lastOutcome,
  noMoreThan,
  startWithConfig,
  textsReceived,
} from './support.ts';

// The AI through the whole path: the conversation's last 12 turns as context, the answer made a
// plain-text DM within Instagram's limits, and a slow or failing LLM falling back to the configured
// text or to a human, with the reason in the job's result. The LLM is a local fake OpenAI server.

const SYSTEM = 'You answer DMs for a mug shop.';
const FALLBACK = 'Sorry, I cannot answer right now. A person will get back to you.';

const config = (fallback: string) => `rules:
  - name: pricing
    when: { keyword: price }
    reply: { type: text, text: "From $10." }
ai:
  provider: openai
  model: fake-model
  system: "${SYSTEM}"
  timeoutMs: 300
  fallback: ${fallback}
`;

type Reply = (req: Received) => Answer;
let llm: FakeLlm;
let reply: Reply;
let svc: SandboxService;
let n = 0;
const who = () => `llm customer ${++n}`;
/** The chat requests the fake received (drafts only), oldest first. */
const drafts = () => llm.received.filter((r) => r.path === '/v1/chat/completions');
const messagesOf = (r: Received) => r.body['messages'] as { role: string; content: string }[];

beforeAll(async () => {
  llm = await startFakeLlm((req) => reply(req));
  svc = await startWithConfig(config(`{ text: "${FALLBACK}" }`), { env: fakeOpenAiEnv(llm.origin) });
});
afterAll(async () => {
  await svc?.stop();
  await llm?.close();
});
beforeEach(() => {
  llm.received.length = 0;
  reply = () => ({ text: 'ok' });
});

describe('context', () => {
  it('the LLM sees the system prompt and the last 12 turns, oldest first, with their roles', async () => {
    let k = 0;
    reply = () => ({ text: `a${++k}` });
    const { igsid } = await svc.customer({ from: who(), text: 'c1' });
    await textsReceived(svc, igsid, 1);
    for (let i = 2; i <= 9; i++) {
      await svc.customer({ from: igsid, text: `c${i}` });
      await textsReceived(svc, igsid, i);
    }
    // 9 questions and 9 answers: the 9th question was asked with 17 messages in the conversation.
    expect(await textsReceived(svc, igsid, 9)).toEqual([
      'a1',
      'a2',
      'a3',
      'a4',
      'a5',
      'a6',
      'a7',
      'a8',
      'a9',
    ]);
    expect(drafts()).toHaveLength(9);
    const ninth = messagesOf(drafts()[8]!);
    expect(ninth).toEqual([
      { role: 'system', content: SYSTEM },
      { role: 'assistant', content: 'a3' },
      { role: 'user', content: 'c4' },
      { role: 'assistant', content: 'a4' },
      { role: 'user', content: 'c5' },
      { role: 'assistant', content: 'a5' },
      { role: 'user', content: 'c6' },
      { role: 'assistant', content: 'a6' },
      { role: 'user', content: 'c7' },
      { role: 'assistant', content: 'a7' },
      { role: 'user', content: 'c8' },
      { role: 'assistant', content: 'a8' },
      { role: 'user', content: 'c9' },
    ]);
    // The first question had only itself as context.
    expect(messagesOf(drafts()[0]!)).toEqual([
      { role: 'system', content: SYSTEM },
      { role: 'user', content: 'c1' },
    ]);
    expect(drafts()[0]!.body['model']).toBe('fake-model');
  });

  it('rule replies, other replies and media are part of the context', async () => {
    reply = () => ({ text: 'Sure!' });
    const { igsid } = await svc.customer({ from: who(), text: 'price' });
    await textsReceived(svc, igsid, 1);
    // A photo alone is not asked of the AI (it reads text only)...
    await svc.customer({
      from: igsid,
      attachments: [{ type: 'image', url: 'https://cdn.example.com/mug.jpg' }],
    });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ silent: 'no rule matched' });
    expect(drafts()).toHaveLength(0);
    // ... but it is part of the context of the next question, as is an agent's reply.
    const agent = await svc.send({ to: igsid, content: { type: 'text', text: 'Nice one!' } });
    expect(agent.status).toBe(202);
    await textsReceived(svc, igsid, 2);
    await svc.customer({ from: igsid, text: 'do you have this one in blue?' });
    expect(await textsReceived(svc, igsid, 3)).toEqual(['From $10.', 'Nice one!', 'Sure!']);
    expect(messagesOf(drafts().at(-1)!)).toEqual([
      { role: 'system', content: SYSTEM },
      { role: 'user', content: 'price' },
      { role: 'assistant', content: 'From $10.' },
      { role: 'user', content: '[image]' },
      { role: 'assistant', content: 'Nice one!' },
      { role: 'user', content: 'do you have this one in blue?' },
    ]);
  });
});

describe('the answer as a DM', () => {
  it('markdown arrives as plain text within 1000 bytes', async () => {
    reply = () => ({
      text: `## Our mugs\n\n**Hello!** Here is _what_ we have:\n- Blue mug: \`$10\`\n- See [the shop](https://shop.example).\n\n${'Ça coûte **dix** euros. '.repeat(60)}`,
    });
    const { igsid } = await svc.customer({ from: who(), text: 'what do you sell?' });
    const [text] = await textsReceived(svc, igsid, 1);
    expect(
      text!.startsWith(
        'Our mugs\n\nHello! Here is what we have:\nBlue mug: $10\nSee the shop (https://shop.example).',
      ),
    ).toBe(true);
    expect(text).not.toMatch(/\*\*|__|`|^#|^- /m);
    expect(Buffer.byteLength(text!)).toBeLessThanOrEqual(1000);
    expect(Buffer.byteLength(text!)).toBeGreaterThan(900);
    expect(text!.endsWith('…')).toBe(true);
    expect(await lastOutcome(svc, igsid)).toMatchObject({ ai: { kind: 'reply' } });
  });
});

describe('fallback to a text', () => {
  it('a slow LLM (beyond ai.timeoutMs): the fallback text is sent, the result says timeout', async () => {
    reply = () => ({ text: 'too late', delayMs: 2000 });
    const started = Date.now();
    const { igsid } = await svc.customer({ from: who(), text: 'are you open on sunday?' });
    expect(await textsReceived(svc, igsid, 1)).toEqual([FALLBACK]);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(await lastOutcome(svc, igsid)).toMatchObject({
      ai: { kind: 'text', reason: 'timeout', detail: expect.stringContaining('300 ms') },
      queued: [expect.any(String)],
    });
    expect(await conversation(svc, igsid)).toMatchObject({ threadOwner: 'bot' });
    await noMoreThan(svc, igsid, 1);
  });

  it('an erroring LLM (HTTP 500): the fallback text is sent, the result says error', async () => {
    reply = () => ({ status: 500 });
    const { igsid } = await svc.customer({ from: who(), text: 'are you open on sunday?' });
    expect(await textsReceived(svc, igsid, 1)).toEqual([FALLBACK]);
    expect(await lastOutcome(svc, igsid)).toMatchObject({
      ai: { kind: 'text', reason: 'error', detail: expect.stringContaining('500') },
    });
    expect(drafts()).toHaveLength(1); // no retries: the fallback answers at once
  });

  it('an empty answer: the fallback text is sent, the result says empty', async () => {
    reply = () => ({ text: '   ' });
    const { igsid } = await svc.customer({ from: who(), text: 'hmm?' });
    expect(await textsReceived(svc, igsid, 1)).toEqual([FALLBACK]);
    expect(await lastOutcome(svc, igsid)).toMatchObject({ ai: { kind: 'text', reason: 'empty' } });
  });
});

describe('fallback to a human', () => {
  let human: SandboxService;
  beforeAll(async () => {
    human = await startWithConfig(config('{ handover: human }'), { env: fakeOpenAiEnv(llm.origin) });
  });
  afterAll(async () => {
    await human?.stop();
  });

  it('a failing LLM hands the conversation to a human; nothing is sent and the bot stays silent', async () => {
    reply = () => ({ text: 'too late', delayMs: 2000 });
    const { igsid } = await human.customer({ from: who(), text: 'can I return a mug?' });
    expect(await lastOutcome(human, igsid)).toMatchObject({
      ai: { kind: 'handover', reason: 'timeout' },
      handover: 'human',
    });
    expect(await conversation(human, igsid)).toMatchObject({ threadOwner: 'human' });
    await noMoreThan(human, igsid, 0);
    reply = () => ({ text: 'ok' });
    await human.customer({ from: igsid, text: 'hello?' });
    expect(await lastOutcome(human, igsid)).toMatchObject({ silent: 'a human owns the conversation' });
    await noMoreThan(human, igsid, 0);
  });
});
