import { describe, expect, it } from 'vitest';
import {
  CONFIDENCE_THRESHOLD,
  type Corpus,
  classify,
  classifyIntent,
  defaultCorpus,
  INTENTS,
  type Intent,
  tokenize,
  train,
} from '../../../src/engine/intent/classifier.ts';

// The offline intent classifier: quality on held-out examples of the shipped corpus, obvious cases,
// robustness on odd input, and determinism.

function split(corpus: Corpus): { training: Corpus; held: [Intent, string][] } {
  const training = {} as Record<Intent, string[]>;
  const held: [Intent, string][] = [];
  for (const intent of INTENTS) {
    training[intent] = [];
    corpus[intent].forEach((text, i) => {
      if (i % 5 === 4) held.push([intent, text]);
      else training[intent].push(text);
    });
  }
  return { training, held };
}

describe('corpus', () => {
  it('has at least 60 distinct examples per intent', () => {
    for (const intent of INTENTS) {
      expect(defaultCorpus[intent].length, intent).toBeGreaterThanOrEqual(60);
      expect(new Set(defaultCorpus[intent]).size, intent).toBe(defaultCorpus[intent].length);
    }
  });

  it('trains from the shipped corpus quickly', () => {
    const start = performance.now();
    train(defaultCorpus);
    const ms = performance.now() - start;
    const size = INTENTS.reduce((n, i) => n + defaultCorpus[i].length, 0);
    console.log(`intent model: ${size} examples, trained in ${ms.toFixed(1)} ms`);
  });
});

describe('held-out evaluation (every 5th example held out)', () => {
  it('classifies at least 80% of held-out examples correctly', () => {
    const { training, held } = split(defaultCorpus);
    const model = train(training);
    const confusion = new Map<Intent, Map<Intent, number>>(
      INTENTS.map((i) => [i, new Map(INTENTS.map((j) => [j, 0]))]),
    );
    const misses: string[] = [];
    let correct = 0;
    for (const [expected, text] of held) {
      const got = classify(model, text);
      const row = confusion.get(expected)!;
      row.set(got.intent, row.get(got.intent)! + 1);
      if (got.intent === expected) correct++;
      else misses.push(`  ${expected} -> ${got.intent} (${got.confidence.toFixed(2)}): ${text}`);
    }
    const accuracy = correct / held.length;
    const pad = (s: string | number) => String(s).padStart(8);
    const lines = [
      `held-out accuracy ${(accuracy * 100).toFixed(1)}% (${correct}/${held.length})`,
      `${pad('exp\\got')}${INTENTS.map(pad).join('')}`,
      ...INTENTS.map((e) => `${pad(e)}${INTENTS.map((g) => pad(confusion.get(e)!.get(g)!)).join('')}`),
      'misses:',
      ...misses,
    ];
    console.log(lines.join('\n'));
    expect(accuracy).toBeGreaterThanOrEqual(0.8);
  });

  it('holds up under 5-fold cross-validation', () => {
    let correct = 0;
    let total = 0;
    for (let fold = 0; fold < 5; fold++) {
      const training = {} as Record<Intent, string[]>;
      const held: [Intent, string][] = [];
      for (const intent of INTENTS) {
        training[intent] = defaultCorpus[intent].filter((_, i) => i % 5 !== fold);
        for (const text of defaultCorpus[intent].filter((_, i) => i % 5 === fold)) held.push([intent, text]);
      }
      const model = train(training);
      for (const [expected, text] of held) if (classify(model, text).intent === expected) correct++;
      total += held.length;
    }
    console.log(
      `5-fold cross-validated accuracy ${((correct / total) * 100).toFixed(1)}% (${correct}/${total})`,
    );
    expect(correct / total).toBeGreaterThanOrEqual(0.8);
  });
});

describe('obvious cases', () => {
  const cases: Record<Intent, string[]> = {
    enquiry: [
      'How much does the grey sweater cost?',
      'Do you ship to Brazil?',
      'what time do you open on saturday',
      'is the ring available in gold?',
      '¿Cuánto cuesta el envío?',
    ],
    order: [
      'I want to buy two of these',
      'where is my order?? it was supposed to come yesterday',
      'I sent the payment, please confirm my order',
      'can I pay by card? I want the large one',
      'Quero comprar o vestido azul',
    ],
    collab: [
      "Hi! I'm an influencer with 30k followers, interested in a collab?",
      'We would love to discuss a partnership with your brand',
      'Do you sell wholesale? I have a shop in Lisbon',
      'Looking for brand ambassadors?',
      'Vamos fazer uma parceria?',
    ],
    support: [
      'I want a refund, the mug arrived broken',
      'My account was hacked',
      'the item is damaged and I want to return it',
      'you charged me twice!!',
      'El producto llegó roto, quiero un reembolso',
    ],
    general: ['hi!', 'Thank you so much 😍', 'love your feed', 'good morning ☀️', '❤️❤️', 'Obrigada!'],
  };
  for (const intent of INTENTS) {
    it(`recognises ${intent}`, () => {
      for (const text of cases[intent]) expect(classifyIntent(text).intent, text).toBe(intent);
    });
  }
});

describe('robustness', () => {
  const odd = [
    '',
    '   ',
    '😍',
    '🔥🔥🔥👍🏽',
    '❤️',
    '?!...',
    'a'.repeat(5000),
    'refund '.repeat(800),
    'lorem ipsum dolor sit amet '.repeat(200),
    'HOW MUCH IS THIS',
    'PreÇo Por Favor',
    'ÇÃÕÉÍ ñ ü',
    '\u0000\uFFFF\uD800',
    '🏳️‍🌈 👨‍👩‍👧',
    '12345',
  ];

  it('never throws and always returns a valid result', () => {
    for (const text of odd) {
      const r = classifyIntent(text);
      expect(INTENTS).toContain(r.intent);
      expect(r.confidence).toBeGreaterThanOrEqual(0);
      expect(r.confidence).toBeLessThanOrEqual(1);
      const sum = INTENTS.reduce((s, i) => s + r.scores[i], 0);
      expect(sum).toBeCloseTo(1, 9);
    }
  });

  it('classifies empty and emoji-only text as general', () => {
    for (const text of ['', '  \n ', '😍😍', '🔥', '👍🏽', '❤️❤️❤️', '🏳️‍🌈']) {
      expect(classifyIntent(text)).toMatchObject({ intent: 'general', confidence: 1 });
    }
  });

  it('falls back to general for text it cannot place', () => {
    const r = classifyIntent('zxqv blorf wimble');
    expect(r.intent).toBe('general');
    expect(r.reason).toBe('low-confidence');
  });

  it('reports low confidence as general below the threshold', () => {
    for (const text of ['hmm', 'the thing', 'so about that', 'maybe later']) {
      const r = classifyIntent(text);
      const best = INTENTS.reduce((b, i) => (r.scores[i] > r.scores[b] ? i : b), 'general' as Intent);
      if (best !== 'general' && r.scores[best] < CONFIDENCE_THRESHOLD) expect(r.intent).toBe('general');
    }
  });

  it('ignores case and accents', () => {
    expect(tokenize("PREÇO, Não, DON'T 😍🏽")).toEqual(['preco', 'nao', 'dont', '😍']);
    expect(classifyIntent('HOW MUCH IS THIS?')).toEqual(classifyIntent('how much is this?'));
    expect(classifyIntent('qual o preço?')).toEqual(classifyIntent('QUAL O PRECO?'));
  });
});

describe('determinism', () => {
  it('gives the same output for the same input, across calls and retrained models', () => {
    const texts = [...INTENTS.flatMap((i) => defaultCorpus[i].slice(0, 5)), 'hmm', 'zxqv'];
    const a = train(defaultCorpus);
    const b = train(defaultCorpus);
    for (const text of texts) {
      const first = classifyIntent(text);
      expect(classifyIntent(text)).toEqual(first);
      expect(classify(a, text)).toEqual(first);
      expect(classify(b, text)).toEqual(first);
    }
  });
});
