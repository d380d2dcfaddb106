import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLASSIFY_PROMPT } from '../../../src/engine/ai/index.ts';
import type { SandboxService } from '../../send/support.ts';
import { type Answer, type FakeLlm, type Received, startFakeLlm } from '../ai/fake-llm.ts';
import { conversation, fakeOpenAiEnv, lastOutcome, startWithConfig, textsReceived } from './support.ts';

// The intent of each inbound text (enquiry, order, collab, support, general) on the conversation in
// the API: by the offline classifier by default, or by the configured LLM with `ai.intent: llm`
// (offline again when the LLM fails). Intent rules act on it.

const RULES = `rules:
  - name: orders
    when: { intent: order }
    reply: { type: text, text: "Let's get your order started." }
  - name: collab
    when: { intent: collab }
    tag: collab
`;

describe('offline (the default)', () => {
  let svc: SandboxService;
  beforeAll(async () => {
    svc = await startWithConfig(RULES);
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it.each([
    ['how much does the blue mug cost?', 'enquiry'],
    ['I want to buy 2 of them', 'order'],
    ['would you like to collaborate on a sponsored post?', 'collab'],
    ['my order arrived broken, I want a refund', 'support'],
    ['hello!', 'general'],
  ])('"%s" is %s', async (text, intent) => {
    const { igsid } = await svc.customer({ from: `offline ${intent}`, text });
    expect(await conversation(svc, igsid)).toMatchObject({ intent });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ intent });
  });

  it("follows the customer's latest text; a message without text keeps it", async () => {
    const { igsid } = await svc.customer({ from: 'offline changing', text: 'I want to buy 2 of them' });
    expect(await textsReceived(svc, igsid, 1)).toEqual(["Let's get your order started."]);
    await svc.customer({ from: igsid, text: 'are you open to a brand partnership?' });
    expect(await conversation(svc, igsid)).toMatchObject({ intent: 'collab', tags: ['collab'] });
    await svc.customer({
      from: igsid,
      attachments: [{ type: 'image', url: 'https://cdn.example.com/x.jpg' }],
    });
    expect(await conversation(svc, igsid)).toMatchObject({ intent: 'collab' });
  });
});

describe('by the LLM (ai.intent: llm)', () => {
  let llm: FakeLlm;
  let classify: (req: Received) => Answer;
  let svc: SandboxService;
  beforeAll(async () => {
    llm = await startFakeLlm((req) => {
      const messages = req.body['messages'] as { role: string; content: string }[];
      return messages[0]?.content === CLASSIFY_PROMPT ? classify(req) : { text: 'An AI reply.' };
    });
    svc = await startWithConfig(
      `${RULES}ai:
  provider: openai
  model: fake-model
  intent: llm
  timeoutMs: 300
`,
      { env: fakeOpenAiEnv(llm.origin) },
    );
  });
  afterAll(async () => {
    await svc?.stop();
    await llm?.close();
  });
  beforeEach(() => {
    llm.received.length = 0;
  });

  it("the LLM's classification is used, and intent rules act on it", async () => {
    // The offline classifier would call this general; the LLM says order.
    classify = () => ({ text: 'Order' });
    const { igsid } = await svc.customer({ from: 'llm order', text: 'hello!' });
    expect(await conversation(svc, igsid)).toMatchObject({ intent: 'order' });
    expect(await textsReceived(svc, igsid, 1)).toEqual(["Let's get your order started."]);
    const asked = llm.received.filter(
      (r) => (r.body['messages'] as { content: string }[])[0]!.content === CLASSIFY_PROMPT,
    );
    expect(asked).toHaveLength(1);
    expect(asked[0]!.body['messages']).toEqual([
      { role: 'system', content: CLASSIFY_PROMPT },
      { role: 'user', content: 'hello!' },
    ]);
  });

  it('"inquiry" is read as enquiry; an answer that is no intent is general', async () => {
    classify = () => ({ text: 'inquiry.' });
    const a = await svc.customer({ from: 'llm enquiry', text: 'I want to buy 2 of them' });
    expect(await conversation(svc, a.igsid)).toMatchObject({ intent: 'enquiry' });
    classify = () => ({ text: 'I think this is a question about shipping' });
    const b = await svc.customer({ from: 'llm unsure', text: 'I want to buy 2 of them' });
    expect(await conversation(svc, b.igsid)).toMatchObject({ intent: 'general' });
  });

  it('a failing or slow LLM: the offline classifier decides', async () => {
    classify = () => ({ status: 500 });
    const a = await svc.customer({ from: 'llm failing', text: 'I want to buy 2 of them' });
    expect(await conversation(svc, a.igsid)).toMatchObject({ intent: 'order' });
    classify = () => ({ text: 'collab', delayMs: 2000 });
    const b = await svc.customer({ from: 'llm slow', text: 'I want to buy 2 of them' });
    expect(await conversation(svc, b.igsid)).toMatchObject({ intent: 'order' });
    expect(await textsReceived(svc, b.igsid, 1)).toEqual(["Let's get your order started."]);
  });
});
