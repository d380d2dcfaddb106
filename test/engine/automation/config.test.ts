import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config.ts';
import {
  AutomationConfigError,
  loadAutomationConfig,
  parseAutomationConfig,
} from '../../../src/engine/automation/config.ts';

/** The problems a config has, as `file:line: path: message`. */
function problems(text: string, format: 'yaml' | 'json' = 'yaml'): string[] {
  try {
    parseAutomationConfig(text, { format, source: `automation.${format}` });
  } catch (err) {
    if (err instanceof AutomationConfigError) return err.problems;
    throw err;
  }
  return [];
}

const lines = (...l: string[]) => `${l.join('\n')}\n`;
const ok = lines(
  'rules:',
  '  - name: hi',
  '    when: { keyword: hi }',
  '    reply: { type: text, text: Hello }',
);

describe('automation config: what it accepts', () => {
  it('defaults the AI to none with a 10 s timeout', () => {
    expect(parseAutomationConfig(ok, { format: 'yaml' }).ai).toEqual({
      provider: 'none',
      timeoutMs: 10_000,
      intent: 'offline',
    });
  });

  it('takes every trigger and action, single values as lists', () => {
    const c = parseAutomationConfig(
      lines(
        'rules:',
        '  - { name: a, when: { keyword: hi }, tag: lead }',
        '  - { name: b, when: { regex: "^x" }, ai: true }',
        '  - { name: c, when: { payload: [A, B] }, webhook: { url: "https://hooks.example/x", secret: s3 } }',
        '  - { name: d, when: { event: first_message }, handover: human, tag: [new, lead] }',
        '  - { name: e, when: { intent: order }, reply: { type: image, image: { url: "https://cdn.example/a.png" } } }',
        '  - { name: f, when: { intent: [collab, support] }, reply: { type: template, template: { type: button, text: "Hi {{name}}", buttons: [{ type: postback, title: Yes, payload: Y }] } } }',
        'ai: { provider: anthropic, timeoutMs: 2500, fallback: { handover: human } }',
      ),
      { format: 'yaml' },
    );
    expect(c.rules.map((r) => r.when)).toMatchObject([
      { keyword: ['hi'] },
      { regex: '^x' },
      { payload: ['A', 'B'] },
      { event: 'first_message' },
      { intent: ['order'] },
      { intent: ['collab', 'support'] },
    ]);
    expect(c.rules[0]!.tag).toEqual(['lead']);
    expect(c.rules[1]!.ai).toBe(true);
    expect(c.rules[2]!.webhook).toEqual({ url: 'https://hooks.example/x', secret: 's3' });
    expect(c.rules[3]).toMatchObject({ handover: 'human', tag: ['new', 'lead'] });
    expect(c.ai).toEqual({
      provider: 'anthropic',
      timeoutMs: 2500,
      fallback: { handover: 'human' },
      intent: 'offline',
    });
  });

  it('loads a file by path, YAML or JSON by its extension', () => {
    const dir = mkdtempSync(join(tmpdir(), 'igdm-automation-'));
    writeFileSync(join(dir, 'a.yml'), ok);
    writeFileSync(
      join(dir, 'a.json'),
      JSON.stringify({
        rules: [{ name: 'hi', when: { keyword: 'hi' }, reply: { type: 'text', text: 'Hello' } }],
      }),
    );
    expect(loadAutomationConfig(join(dir, 'a.yml'))).toEqual(loadAutomationConfig(join(dir, 'a.json')));
    const missing = join(dir, 'nope.yaml');
    expect(() => loadAutomationConfig(missing)).toThrow(`${missing}: cannot read the file (ENOENT)`);
  });

  it('throws a ConfigError whose message names the file, line and field', () => {
    const text = lines(
      'rules:',
      '  - name: a',
      '    when: { keyword: a }',
      '    handover: human',
      '  - name: b',
      '    reply: { type: text, text: hi }',
      '    when: { regex: "[" }',
    );
    let error: unknown;
    try {
      parseAutomationConfig(text, { format: 'yaml', source: 'automation.yaml' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(
      /^automation\.yaml:7: rules\[1\]\.when\.regex: invalid regular expression/,
    );
    expect((error as AutomationConfigError).issues).toMatchObject([{ line: 7, path: 'rules[1].when.regex' }]);
  });
});

describe('automation config: errors name the line and the field', () => {
  it('an invalid regex', () => {
    expect(
      problems(
        lines('rules:', '  - name: a', '    when:', '      regex: "(unclosed"', '    handover: human'),
      ),
    ).toEqual([
      expect.stringMatching(/^automation\.yaml:4: rules\[0\]\.when\.regex: invalid regular expression/),
    ]);
  });

  it('a duplicate rule name', () => {
    expect(
      problems(
        lines(
          'rules:',
          '  - name: a',
          '    when: { keyword: x }',
          '    handover: human',
          '  - name: a',
          '    when: { keyword: y }',
          '    handover: human',
        ),
      ),
    ).toEqual(['automation.yaml:5: rules[1].name: duplicate rule name "a" (already used by rules[0])']);
  });

  it('unknown keys anywhere', () => {
    expect(
      problems(
        lines(
          'rules:',
          '  - name: a',
          '    when: { keyword: x, regexp: y }',
          '    handover: human',
          '    replly: { type: text, text: hi }',
          'ai:',
          '  provider: none',
          '  temperature: 0.2',
          'extra: 1',
        ),
      ),
    ).toEqual([
      'automation.yaml:3: rules[0].when.regexp: unknown field',
      'automation.yaml:5: rules[0].replly: unknown field',
      'automation.yaml:8: ai.temperature: unknown field',
      'automation.yaml:9: extra: unknown field',
    ]);
  });

  it('empty or missing rules, and an empty file', () => {
    expect(problems('rules: []\n')).toEqual(['automation.yaml:1: rules: must have at least 1 rule']);
    expect(problems('ai: { provider: none }\n')).toEqual(['automation.yaml:1: rules: is required']);
    expect(problems('# nothing\n')).toEqual(['automation.yaml: the file is empty: it needs a rules list']);
  });

  it('a rule without an action, or without exactly one trigger', () => {
    expect(
      problems(
        lines(
          'rules:',
          '  - name: a',
          '    when: { keyword: x }',
          '  - name: b',
          '    when: { keyword: x, payload: Y }',
          '    handover: human',
          '  - name: c',
          '    when: {}',
          '    handover: human',
          '  - name: d',
          '    handover: human',
        ),
      ),
    ).toEqual([
      'automation.yaml:2: rules[0]: needs at least one action: reply, handover, tag, webhook, ai',
      'automation.yaml:5: rules[1].when: needs exactly one of keyword, regex, payload, event, intent, referral (got keyword, payload)',
      'automation.yaml:8: rules[2].when: needs exactly one of keyword, regex, payload, event, intent, referral',
      'automation.yaml:10: rules[3].when: is required',
    ]);
  });

  it('unknown events and intents, empty keywords', () => {
    expect(
      problems(
        lines(
          'rules:',
          '  - { name: a, when: { event: story_mentions }, handover: human }',
          '  - { name: b, when: { intent: [order, refund] }, handover: human }',
          '  - { name: c, when: { keyword: [] }, handover: human }',
          '  - { name: d, when: { keyword: "  " }, handover: human }',
        ),
      ),
    ).toEqual([
      expect.stringMatching(/^automation\.yaml:2: rules\[0\]\.when\.event: Invalid option/),
      expect.stringMatching(/^automation\.yaml:3: rules\[1\]\.when\.intent\[1\]: Invalid option/),
      'automation.yaml:4: rules[2].when.keyword: must have at least 1 item',
      'automation.yaml:5: rules[3].when.keyword: must not be empty',
    ]);
  });

  it('replies the Send API would refuse, and unknown placeholders', () => {
    expect(
      problems(
        lines(
          'rules:',
          '  - name: a',
          '    when: { keyword: x }',
          '    reply:',
          '      type: text',
          '      text: "Hi {{user}}"',
          '  - name: b',
          '    when: { keyword: y }',
          '    reply: { type: gif }',
          '  - name: c',
          '    when: { keyword: z }',
          '    reply:',
          '      type: text',
          '      text: hi',
          '      quickReplies:',
          '        - title: "A title that is far too long"',
          '          payload: P',
        ),
      ),
    ).toEqual([
      'automation.yaml:6: rules[0].reply.text: unknown placeholder {{user}} (use {{username}}, {{name}}, {{text}})',
      expect.stringMatching(/^automation\.yaml:9: rules\[1\]\.reply\.type: Invalid discriminator value/),
      'automation.yaml:16: rules[2].reply.quickReplies[0].title: must be at most 20 characters',
    ]);
  });

  it('bad webhook, handover, ai and fallback settings', () => {
    expect(
      problems(
        lines(
          'rules:',
          '  - name: a',
          '    when: { keyword: x }',
          '    webhook: { url: "ftp://example.com/x" }',
          '  - name: b',
          '    when: { keyword: y }',
          '    handover: bot',
          '  - name: c',
          '    when: { keyword: z }',
          '    ai: false',
          'ai:',
          '  provider: gemini',
          '  timeoutMs: -1',
          '  fallback: { text: sorry, handover: human }',
        ),
      ),
    ).toEqual([
      'automation.yaml:4: rules[0].webhook.url: must be an http:// or https:// URL',
      expect.stringMatching(/^automation\.yaml:7: rules\[1\]\.handover: Invalid input: expected "human"/),
      expect.stringMatching(/^automation\.yaml:10: rules\[2\]\.ai: Invalid input: expected true/),
      expect.stringMatching(/^automation\.yaml:12: ai\.provider: Invalid option/),
      'automation.yaml:13: ai.timeoutMs: must be positive',
      'automation.yaml:14: ai.fallback: needs exactly one of text, handover',
    ]);
  });

  it('YAML syntax errors and duplicate keys', () => {
    expect(problems(lines('rules:', '  - name: a', '    when: { keyword: x', '    handover: human'))).toEqual(
      [expect.stringMatching(/^automation\.yaml:\d+: invalid YAML: /)],
    );
    expect(
      problems(
        lines('rules:', '  - name: a', '    when: { keyword: x }', '    handover: human', '    name: b'),
      ),
    ).toEqual([expect.stringMatching(/^automation\.yaml:5: invalid YAML: Map keys must be unique/)]);
  });
});

describe('automation config: JSON', () => {
  const json = (rules: unknown) => JSON.stringify({ rules }, null, 2);

  it('names the line of a bad field', () => {
    const text = json([
      { name: 'a', when: { keyword: 'x' }, handover: 'human' },
      { name: 'b', when: { regex: '*oops' }, handover: 'human' },
    ]);
    const line = text.split('\n').findIndex((l) => l.includes('*oops')) + 1;
    expect(problems(text, 'json')).toEqual([
      expect.stringMatching(
        new RegExp(`^automation\\.json:${line}: rules\\[1\\]\\.when\\.regex: invalid regular expression`),
      ),
    ]);
  });

  it('names the line of unknown keys and duplicate names', () => {
    const text = lines(
      '{',
      '\t"rules": [',
      '\t\t{ "name": "a", "when": { "keyword": "x" }, "handover": "human" },',
      '\t\t{ "name": "a", "when": { "keyword": "y" }, "handover": "human",',
      '\t\t  "colour": "red" }',
      '\t]',
      '}',
    );
    expect(problems(text, 'json')).toEqual([
      'automation.json:4: rules[1].name: duplicate rule name "a" (already used by rules[0])',
      'automation.json:5: rules[1].colour: unknown field',
    ]);
  });

  it('syntax errors and duplicate keys', () => {
    expect(problems(lines('{', '  "rules": [', '    { "name": "a", }', '  ]', '}'), 'json')).toEqual([
      expect.stringMatching(/^automation\.json:3: invalid JSON: /),
    ]);
    expect(
      problems(
        lines(
          '{',
          '  "rules": [{ "name": "a", "when": { "keyword": "x" }, "handover": "human" }],',
          '  "rules": []',
          '}',
        ),
        'json',
      ),
    ).toEqual(['automation.json:3: duplicate key']);
  });
});

describe('automation config: comment rules', () => {
  it('takes `event: comment` with or without keywords, and privateReply / publicReply', () => {
    const c = parseAutomationConfig(
      lines(
        'rules:',
        '  - name: link',
        '    when: { event: comment, keyword: [LINK, price] }',
        '    privateReply: { type: text, text: "Here you go, @{{username}}" }',
        '    publicReply: "Check your DMs!"',
        '  - { name: any, when: { event: comment }, publicReply: Thanks! }',
      ),
      { format: 'yaml' },
    );
    expect(c.rules[0]).toMatchObject({
      name: 'link',
      when: { comment: { keyword: ['LINK', 'price'] } },
      privateReply: { type: 'text', text: 'Here you go, @{{username}}' },
      publicReply: 'Check your DMs!',
    });
    expect(c.rules[1]).toMatchObject({ when: { comment: true }, publicReply: 'Thanks!' });
  });

  it('comment actions only on comment rules, and comment rules only with them', () => {
    expect(
      problems(
        lines(
          'rules:',
          '  - { name: a, when: { keyword: hi }, publicReply: x }',
          '  - { name: b, when: { event: comment }, reply: { type: text, text: x } }',
          '  - { name: c, when: { event: comment, regex: x }, publicReply: x }',
          '  - { name: d, when: { event: comment }, publicReply: "{{nope}}" }',
        ),
      ),
    ).toEqual([
      'automation.yaml:2: rules[0]: needs at least one action: reply, handover, tag, webhook, ai',
      'automation.yaml:2: rules[0].publicReply: only a comment rule (when: { event: comment }) has it',
      'automation.yaml:3: rules[1]: needs at least one action: privateReply, publicReply',
      'automation.yaml:3: rules[1].reply: a comment rule answers with privateReply or publicReply',
      'automation.yaml:4: rules[2].when: needs exactly one of keyword, regex, payload, event, intent, referral (got regex, event)',
      'automation.yaml:5: rules[3].publicReply: unknown placeholder {{nope}} (use {{username}}, {{name}}, {{text}})',
    ]);
  });
});
