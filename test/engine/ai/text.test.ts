import { describe, expect, it } from 'vitest';
import { fitBytes, toPlainText } from '../../../src/engine/ai/index.ts';

// The answer as a DM: plain text, at most 1000 bytes of UTF-8.

describe('toPlainText', () => {
  it('removes emphasis, headings, bullets, quotes, rules and fences', () => {
    expect(toPlainText('# Title #\n\n> quoted **bold**\n\n---\n\n+ one\n- *two*\n1. three')).toBe(
      'Title\n\nquoted bold\n\none\ntwo\n1. three',
    );
    expect(toPlainText('```js\nconst a = 1;\n```')).toBe('const a = 1;');
    expect(toPlainText('~~old~~ new ![pic](https://x/y.png) [https://a.b](https://a.b)')).toBe(
      'old new pic https://a.b',
    );
  });

  it('leaves ordinary text alone', () => {
    const plain = 'Use code snake_case_name, 2 * 3 = 6, and email me at a_b@c.d! 😀';
    expect(toPlainText(plain)).toBe(plain);
    expect(toPlainText('  a\n\n\n\nb  ')).toBe('a\n\nb');
  });
});

describe('fitBytes', () => {
  it('keeps text that fits', () => {
    const s = 'é'.repeat(500); // exactly 1000 bytes
    expect(fitBytes(s)).toBe(s);
  });

  it('cuts at a word boundary and adds an ellipsis', () => {
    const out = fitBytes('word, '.repeat(300));
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(1000);
    expect(out).toMatch(/ word…$/);
    expect(fitBytes('aaa bbb ccc', 10)).toBe('aaa bbb…');
    expect(fitBytes('aaa bbb ccc', 9)).toBe('aaa…');
    expect(fitBytes('aaa bbb ccc', 11)).toBe('aaa bbb ccc');
  });

  it('never splits a character or an emoji sequence', () => {
    const family = '👨‍👩‍👧'; // 18 bytes, one grapheme
    const out = fitBytes(family.repeat(100));
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(1000);
    expect(out).toBe(family.repeat(55) + '…'); // 990 + 3 bytes
    const multi = fitBytes('€'.repeat(400));
    expect(multi).toBe('€'.repeat(332) + '…');
    expect(Buffer.byteLength(multi)).toBe(999);
  });
});
