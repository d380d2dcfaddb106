import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SandboxService } from '../../send/support.ts';
import { type FakeLlm, startFakeLlm } from '../ai/fake-llm.ts';
import {
  conversation,
  fakeOpenAiEnv,
  lastOutcome,
  messageOf,
  noMoreThan,
  README_CONFIG,
  received,
  startWithConfig,
  textsReceived,
} from './support.ts';

// The README's automation example, end to end: simulated customers write to the sandbox, igdm
// answers through its queue, engine, outbox and sender, and the sandbox's Send API records what
// each customer received. The AI is a local fake OpenAI-compatible server.

const ANSWER = { text: 'We are open 9 to 5, Monday to Friday.' };
let svc: SandboxService;
let llm: FakeLlm;
let n = 0;
/** A fresh customer per test: its own conversation. */
const who = () => `readme customer ${++n}`;

beforeAll(async () => {
  llm = await startFakeLlm(() => ANSWER);
  svc = await startWithConfig(README_CONFIG, { env: fakeOpenAiEnv(llm.origin) });
});
afterAll(async () => {
  await svc?.stop();
  await llm?.close();
});
beforeEach(() => {
  llm.received.length = 0;
  llm.answer = () => ANSWER;
});

const SHOP = 'Here is our shop: https://shop.example';

describe('the README example', () => {
  it('"price?" gets the pricing reply with the username and the Shop now quick reply; tapping it gets the shop', async () => {
    const { igsid } = await svc.customer({ from: who(), text: 'price?' });
    const [first] = await received(svc, igsid, 1);
    const username = (await conversation(svc, igsid)).contact.username;
    expect(username).toMatch(/^readme.customer.\d+_\d\d$/);
    expect(messageOf(first!)).toEqual({
      text: `Hi ${username}! Prices start at $10.`,
      quick_replies: [{ content_type: 'text', title: 'Shop now', payload: 'SHOP' }],
    });
    expect(first!.body).toMatchObject({ recipient: { id: igsid }, messaging_type: 'RESPONSE' });
    expect(first!.body).not.toHaveProperty('tag');
    expect(await lastOutcome(svc, igsid)).toMatchObject({ kind: 'message', rule: 'pricing' });

    await svc.customer({ from: igsid, text: 'Shop now', quickReplyPayload: 'SHOP' });
    expect(await textsReceived(svc, igsid, 2)).toEqual([`Hi ${username}! Prices start at $10.`, SHOP]);
    expect(await lastOutcome(svc, igsid)).toMatchObject({ rule: 'shop' });
    await noMoreThan(svc, igsid, 2);
  });

  it('a postback with payload SHOP (a button, or an ice breaker tap) gets the shop reply', async () => {
    const { igsid } = await svc.customer({
      from: who(),
      postback: { title: 'Visit the shop', payload: 'SHOP' },
    });
    expect(await textsReceived(svc, igsid, 1)).toEqual([SHOP]);
    expect(await lastOutcome(svc, igsid)).toMatchObject({ kind: 'postback', rule: 'shop' });
    // An ice breaker tap arrives as a postback too: the question as the title, its payload.
    await svc.customer({ from: igsid, postback: { title: 'Where can I buy?', payload: 'SHOP' } });
    expect(await textsReceived(svc, igsid, 2)).toEqual([SHOP, SHOP]);
    await noMoreThan(svc, igsid, 2);
  });

  it('a story mention is thanked with the username', async () => {
    const { igsid } = await svc.customer({ from: who(), storyMention: {} });
    const username = (await conversation(svc, igsid)).contact.username;
    expect(await textsReceived(svc, igsid, 1)).toEqual([`Thanks for the mention, @${username}!`]);
    expect(await lastOutcome(svc, igsid)).toMatchObject({ rule: 'mention-thanks' });
  });

  it('"I want a human" hands over silently; then even "price" gets no reply', async () => {
    const { igsid } = await svc.customer({ from: who(), text: 'I want a human' });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ rule: 'agent', handover: 'human' });
    expect(await conversation(svc, igsid)).toMatchObject({ threadOwner: 'human' });
    await noMoreThan(svc, igsid, 0);

    await svc.customer({ from: igsid, text: 'price' });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ silent: 'a human owns the conversation' });
    await svc.customer({ from: igsid, text: 'what are your opening hours?' });
    await noMoreThan(svc, igsid, 0);
    expect(llm.received).toHaveLength(0);
  });

  it('"seq 12" gets "ack seq 12"', async () => {
    const { igsid } = await svc.customer({ from: who(), text: 'seq 12' });
    expect(await textsReceived(svc, igsid, 1)).toEqual(['ack seq 12']);
    expect(await lastOutcome(svc, igsid)).toMatchObject({ rule: 'echo' });
    // The regex is anchored: "seq 12 please" is not an echo (it goes to the AI).
    await svc.customer({ from: igsid, text: 'seq 12 please' });
    expect((await textsReceived(svc, igsid, 2))[1]).toBe('We are open 9 to 5, Monday to Friday.');
  });

  it('an unmatched text gets the AI answer, which saw the system prompt and the conversation', async () => {
    const { igsid } = await svc.customer({ from: who(), text: 'price?' });
    await received(svc, igsid, 1);
    await svc.customer({ from: igsid, text: 'When are you open?' });
    expect((await textsReceived(svc, igsid, 2))[1]).toBe('We are open 9 to 5, Monday to Friday.');
    const username = (await conversation(svc, igsid)).contact.username;
    expect(llm.received).toHaveLength(1);
    expect(llm.received[0]!.path).toBe('/v1/chat/completions');
    expect(llm.received[0]!.body).toMatchObject({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'You are a friendly Instagram DM assistant. Max 2 short sentences.' },
        { role: 'user', content: 'price?' },
        { role: 'assistant', content: `Hi ${username}! Prices start at $10.` },
        { role: 'user', content: 'When are you open?' },
      ],
    });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ ai: { kind: 'reply' } });
    await noMoreThan(svc, igsid, 2);
  });

  it('the LLM failing, with no fallback configured: a human takes over, and the result says why', async () => {
    llm.answer = () => ({ status: 500 });
    const { igsid } = await svc.customer({ from: who(), text: 'When are you open?' });
    expect(await lastOutcome(svc, igsid)).toMatchObject({
      ai: { kind: 'handover', reason: 'error' },
      handover: 'human',
    });
    expect(await conversation(svc, igsid)).toMatchObject({ threadOwner: 'human' });
    await noMoreThan(svc, igsid, 0);
  });
});
