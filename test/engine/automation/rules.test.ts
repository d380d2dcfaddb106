import { describe, expect, it } from 'vitest';
import { parseAutomationConfig } from '../../../src/engine/automation/config.ts';
import { matchRule, type RuleInput, renderReply } from '../../../src/engine/automation/rules.ts';
import type { DomainEvent, MessageEvent } from '../../../src/meta/events.ts';
import { SendValidationError } from '../../../src/meta/send.ts';

const base = { accountId: '1784', igsid: '1234', timestamp: 1_700_000_000_000, standby: false };
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
const text = (t: string, extra: Partial<RuleInput> = {}) => input(message({ text: t }), extra);

/** A config of one rule per trigger (YAML flow maps), each replying with its own name. */
const rulesOf = (...whens: string[]) =>
  parseAutomationConfig(
    `rules:\n${whens.map((w, i) => `  - { name: r${i}, when: ${w}, tag: t${i} }`).join('\n')}\n`,
    { format: 'yaml' },
  );
const matched = (config: ReturnType<typeof rulesOf>, i: RuleInput) => matchRule(config, i)?.rule.name ?? null;

describe('keyword', () => {
  const c = rulesOf('{ keyword: [price, "how much", café] }');
  it.each([
    ['price', true],
    ['PRICE?', true],
    ["What's the Price!!", true],
    ['(price)', true],
    ['price-list please', true],
    ['«price»', true],
    ['How   MUCH is it', true],
    ['un café, por favor', true],
    ['UN CAFÉ', true],
    ['prices', false],
    ['priceless', false],
    ['pre-price_x', false],
    ['cafés', false],
    ['pricé', false],
    ['howmuch', false],
  ])('%j → %s', (t, yes) => {
    expect(matched(c, text(t))).toBe(yes ? 'r0' : null);
  });

  it('matches decomposed (NFD) text as well', () => {
    expect(matched(c, text('un cafe\u0301'))).toBe('r0');
  });

  it('needs text', () => {
    expect(matched(c, input(message({ attachments: [{ type: 'image', payload: {} }] })))).toBeNull();
  });
});

describe('regex', () => {
  const c = rulesOf('{ regex: "^order #(\\\\d+)$" }', '{ regex: "\\\\p{Emoji_Presentation}" }');
  it('tests the text, unicode-aware', () => {
    expect(matched(c, text('order #42'))).toBe('r0');
    expect(matched(c, text('Order #42'))).toBeNull();
    expect(matched(c, text('love it 😍'))).toBe('r1');
    expect(matched(c, text('plain'))).toBeNull();
  });
  it('tests an explicit text over the event text', () => {
    expect(matched(c, input(message({ text: 'no' }), { text: 'order #7' }))).toBe('r0');
  });
});

describe('payload', () => {
  const c = rulesOf('{ payload: [BUY, INFO] }');
  it('matches quick replies, postbacks (ice breakers too) and explicit payloads exactly', () => {
    expect(matched(c, input(message({ text: 'Buy', quickReplyPayload: 'BUY' })))).toBe('r0');
    expect(matched(c, input({ ...base, kind: 'postback', payload: 'INFO' }))).toBe('r0');
    expect(matched(c, input(message({ text: 'x' }), { payload: 'BUY' }))).toBe('r0');
    expect(matched(c, input(message({ text: 'BUY' })))).toBeNull();
    expect(matched(c, input(message({ quickReplyPayload: 'buy' })))).toBeNull();
  });
});

describe('event', () => {
  const c = rulesOf(
    '{ event: story_mention }',
    '{ event: story_reply }',
    '{ event: reaction }',
    '{ event: referral }',
    '{ event: first_message }',
  );
  it('story_mention: a message with a story_mention attachment', () => {
    const m = message({
      attachments: [{ type: 'story_mention', url: 'https://cdn.example/s', payload: {} }],
    });
    expect(matched(c, input(m))).toBe('r0');
  });
  it('story_reply: a message replying to a story', () => {
    expect(matched(c, input(message({ text: 'nice', replyTo: { story: { id: 's1' } } })))).toBe('r1');
    expect(matched(c, input(message({ text: 'nice', replyTo: { mid: 'm0' } })))).toBeNull();
  });
  it('reaction: a reaction set (not removed)', () => {
    const r = { ...base, kind: 'reaction', mid: 'm0', reaction: 'love', emoji: '❤️' } as const;
    expect(matched(c, input({ ...r, action: 'react' }))).toBe('r2');
    expect(matched(c, input({ ...r, action: 'unreact' }))).toBeNull();
  });
  it('referral: a referral event, or a message or postback carrying one', () => {
    const referral = { ref: 'ad1', source: 'ADS', raw: {} };
    expect(matched(c, input({ ...base, kind: 'referral', referral }))).toBe('r3');
    expect(matched(c, input(message({ text: 'hi', referral })))).toBe('r3');
    expect(matched(c, input({ ...base, kind: 'postback', payload: 'GET_STARTED', referral }))).toBe('r3');
  });
  it('first_message: the contact writes for the first time', () => {
    expect(matched(c, text('hello', { firstMessage: true }))).toBe('r4');
    expect(matched(c, text('hello'))).toBeNull();
  });
  it('never fires on echoes, reads, edits or other non-customer events', () => {
    const all = rulesOf('{ event: first_message }', '{ regex: "." }');
    const firstMessage = true;
    expect(
      matched(all, input({ ...base, kind: 'echo', mid: 'e', text: 'hi', attachments: [] }, { firstMessage })),
    ).toBeNull();
    expect(matched(all, input({ ...base, kind: 'read', watermark: 1 }, { firstMessage }))).toBeNull();
    expect(matched(all, input({ ...base, kind: 'edit', mid: 'm', text: 'hi' }, { firstMessage }))).toBeNull();
  });
});

describe('intent', () => {
  const c = rulesOf('{ intent: order }', '{ intent: [collab, support] }');
  it('matches the classified intent', () => {
    expect(matched(c, text('I want 2', { intent: 'order' }))).toBe('r0');
    expect(matched(c, text('help', { intent: 'support' }))).toBe('r1');
    expect(matched(c, text('hi', { intent: 'general' }))).toBeNull();
    expect(matched(c, text('hi'))).toBeNull();
  });
});

describe('order', () => {
  it('the first matching rule wins', () => {
    const c = rulesOf('{ keyword: price }', '{ regex: "price" }', '{ event: first_message }');
    expect(matchRule(c, text('price?', { firstMessage: true }))).toMatchObject({
      index: 0,
      rule: { name: 'r0' },
    });
    expect(matchRule(c, text('prices?', { firstMessage: true }))).toMatchObject({ index: 1 });
    expect(matchRule(c, text('hello', { firstMessage: true }))).toMatchObject({ index: 2 });
    const reversed = rulesOf('{ event: first_message }', '{ keyword: price }');
    expect(matched(reversed, text('price', { firstMessage: true }))).toBe('r0');
  });

  it('gives the placeholder values of the event', () => {
    const c = rulesOf('{ keyword: hi }');
    expect(matchRule(c, text('Hi there'))?.vars).toEqual({
      username: 'ana.k',
      name: 'Ana',
      text: 'Hi there',
    });
    expect(matchRule(c, input(message({ text: 'hi' }), { contact: { username: null } }))?.vars).toEqual({
      username: '',
      name: '',
      text: 'hi',
    });
  });
});

describe('renderReply', () => {
  const vars = { username: 'ana.k', name: 'Ana', text: 'seq 12' };

  it('fills every string of the content', () => {
    expect(
      renderReply(
        {
          type: 'template',
          template: {
            type: 'generic',
            elements: [
              {
                title: 'For {{name}}',
                subtitle: 'You said: {{ text }}',
                buttons: [{ type: 'postback', title: 'Hi {{name}}', payload: 'P_{{username}}' }],
              },
            ],
          },
        },
        vars,
      ),
    ).toEqual({
      type: 'template',
      template: {
        type: 'generic',
        elements: [
          {
            title: 'For Ana',
            subtitle: 'You said: seq 12',
            buttons: [{ type: 'postback', title: 'Hi Ana', payload: 'P_ana.k' }],
          },
        ],
      },
    });
  });

  it('leaves missing values empty and placeholders in values alone', () => {
    expect(renderReply({ type: 'text', text: 'Hi {{name}}, @{{username}}: {{text}}' }, {})).toEqual({
      type: 'text',
      text: 'Hi , @: ',
    });
    expect(renderReply({ type: 'text', text: 'ack {{text}}' }, { text: '{{name}}' })).toEqual({
      type: 'text',
      text: 'ack {{name}}',
    });
  });

  it('shortens {{text}} so that the text stays within 1000 bytes', () => {
    const long = 'é'.repeat(900); // 1800 bytes
    const r = renderReply({ type: 'text', text: 'You said "{{text}}" and "{{text}}"' }, { text: long });
    if (r.type !== 'text') throw new Error('text expected');
    expect(Buffer.byteLength(r.text)).toBeLessThanOrEqual(1000);
    expect(Buffer.byteLength(r.text)).toBeGreaterThan(990);
    expect(r.text).toMatch(/^You said "é+…" and "é+…"$/);
  });

  it('shortens {{text}} in a button template within 640 characters', () => {
    const r = renderReply(
      {
        type: 'template',
        template: {
          type: 'button',
          text: 'Re: {{text}}',
          buttons: [{ type: 'web_url', title: 'Go', url: 'https://x.example' }],
        },
      },
      { text: 'a'.repeat(2000) },
    );
    expect(r.type === 'template' && r.template.type === 'button' && [...r.template.text].length).toBe(640);
  });

  it('throws SendValidationError when the result cannot be sent', () => {
    expect(() => renderReply({ type: 'text', text: '{{text}}' }, {})).toThrow(SendValidationError);
    expect(() =>
      renderReply(
        { type: 'text', text: 'x', quickReplies: [{ contentType: 'text', title: '{{text}}', payload: 'P' }] },
        {
          text: 'a title that is much too long',
        },
      ),
    ).toThrow('content.quickReplies[0].title: must be at most 20 characters');
  });
});
