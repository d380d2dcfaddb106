import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAutomationConfig } from '../../../src/engine/automation/config.ts';
import { matchRule, type RuleInput, renderReply } from '../../../src/engine/automation/rules.ts';
import type { DomainEvent, MessageEvent } from '../../../src/meta/events.ts';

// The example in issue 4 and the README, exactly as written there.
const README_EXAMPLE = String.raw`rules:
  - name: pricing
    when: { keyword: [price, pricing, cost] }
    reply: { type: text, text: "Hi {{username}}! Prices start at $10.", quickReplies: [{ title: "Shop now", payload: SHOP }] }
  - name: shop
    when: { payload: SHOP }          # a quick reply or postback payload
    reply: { type: text, text: "Here is our shop: https://shop.example" }
  - name: mention-thanks
    when: { event: story_mention }
    reply: { type: text, text: "Thanks for the mention, @{{username}}!" }
  - name: agent
    when: { keyword: [human, agent] }
    handover: human
  - name: echo
    when: { regex: "^seq \\d+$" }
    reply: { type: text, text: "ack {{text}}" }
ai:
  provider: openai            # openai | anthropic | none (default none)
  model: gpt-4o-mini
  system: "You are a friendly Instagram DM assistant. Max 2 short sentences."
`;

const base = { accountId: '17841400000000001', igsid: '1234', timestamp: 1_700_000_000_000, standby: false };
const message = (extra: Partial<MessageEvent> = {}): MessageEvent => ({
  ...base,
  kind: 'message',
  mid: 'm1',
  attachments: [],
  isUnsupported: false,
  ...extra,
});
const input = (event: DomainEvent, extra: Partial<RuleInput> = {}): RuleInput => ({
  event,
  firstMessage: false,
  contact: { username: 'ana.k', name: 'Ana' },
  ...extra,
});

const config = parseAutomationConfig(README_EXAMPLE, { format: 'yaml', source: 'automation.yaml' });

function answer(i: RuleInput) {
  const m = matchRule(config, i);
  if (!m) return null;
  return { rule: m.rule.name, reply: m.rule.reply ? renderReply(m.rule.reply, m.vars) : undefined };
}

describe('the README automation example', () => {
  it('is in the README, as written in issue 4', () => {
    expect(readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')).toContain(README_EXAMPLE);
  });

  it('parses as written', () => {
    expect(config.rules.map((r) => r.name)).toEqual(['pricing', 'shop', 'mention-thanks', 'agent', 'echo']);
    expect(config.ai).toEqual({
      provider: 'openai',
      model: 'gpt-4o-mini',
      system: 'You are a friendly Instagram DM assistant. Max 2 short sentences.',
      timeoutMs: 10_000,
      intent: 'offline',
    });
    expect(config.rules[0]!.reply).toEqual({
      type: 'text',
      text: 'Hi {{username}}! Prices start at $10.',
      quickReplies: [{ contentType: 'text', title: 'Shop now', payload: 'SHOP' }],
    });
    expect(config.rules[3]).toMatchObject({ name: 'agent', handover: 'human' });
    expect(config.rules[3]!.reply).toBeUndefined();
  });

  it('answers a price question with the username filled in', () => {
    expect(answer(input(message({ text: "What's the PRICE?" })))).toEqual({
      rule: 'pricing',
      reply: {
        type: 'text',
        text: 'Hi ana.k! Prices start at $10.',
        quickReplies: [{ contentType: 'text', title: 'Shop now', payload: 'SHOP' }],
      },
    });
  });

  it('answers the SHOP quick reply and the SHOP postback', () => {
    const shop = { type: 'text', text: 'Here is our shop: https://shop.example' };
    expect(answer(input(message({ text: 'Shop now', quickReplyPayload: 'SHOP' })))).toEqual({
      rule: 'shop',
      reply: shop,
    });
    expect(answer(input({ ...base, kind: 'postback', payload: 'SHOP', title: 'Shop' }))).toEqual({
      rule: 'shop',
      reply: shop,
    });
  });

  it('thanks a story mention', () => {
    const mention = message({
      attachments: [{ type: 'story_mention', url: 'https://lookaside.example/story', payload: {} }],
    });
    expect(answer(input(mention))).toEqual({
      rule: 'mention-thanks',
      reply: { type: 'text', text: 'Thanks for the mention, @ana.k!' },
    });
  });

  it('hands over to a human', () => {
    const m = matchRule(config, input(message({ text: 'I want a human' })));
    expect(m?.rule).toMatchObject({ name: 'agent', handover: 'human' });
  });

  it('acknowledges seq N with the text', () => {
    expect(answer(input(message({ text: 'seq 12' })))).toEqual({
      rule: 'echo',
      reply: { type: 'text', text: 'ack seq 12' },
    });
    expect(answer(input(message({ text: 'seq 12 please' })))).toBeNull();
  });

  it('matches nothing else (the AI takes those)', () => {
    expect(matchRule(config, input(message({ text: 'hello there' })))).toBeNull();
    expect(matchRule(config, input(message({ text: 'priceless' })))).toBeNull();
  });

  it('reads the same example as JSON', () => {
    const json = JSON.stringify(
      {
        rules: [
          {
            name: 'pricing',
            when: { keyword: ['price', 'pricing', 'cost'] },
            reply: {
              type: 'text',
              text: 'Hi {{username}}! Prices start at $10.',
              quickReplies: [{ title: 'Shop now', payload: 'SHOP' }],
            },
          },
          {
            name: 'shop',
            when: { payload: 'SHOP' },
            reply: { type: 'text', text: 'Here is our shop: https://shop.example' },
          },
          {
            name: 'mention-thanks',
            when: { event: 'story_mention' },
            reply: { type: 'text', text: 'Thanks for the mention, @{{username}}!' },
          },
          { name: 'agent', when: { keyword: ['human', 'agent'] }, handover: 'human' },
          { name: 'echo', when: { regex: '^seq \\d+$' }, reply: { type: 'text', text: 'ack {{text}}' } },
        ],
        ai: {
          provider: 'openai',
          model: 'gpt-4o-mini',
          system: 'You are a friendly Instagram DM assistant. Max 2 short sentences.',
        },
      },
      null,
      2,
    );
    expect(parseAutomationConfig(json, { format: 'json' })).toEqual(config);
  });
});
