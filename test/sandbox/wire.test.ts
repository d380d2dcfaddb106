import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { metaJson } from '../../src/sandbox/wire.ts';

// Meta's JSON escaping: only ASCII on the wire, and it parses back to the same value.

describe('metaJson', () => {
  it('escapes non-ASCII as lowercase \\uXXXX code units and / as \\/', () => {
    expect(metaJson({ t: 'café / 😀 ❤️ ü' })).toBe(
      '{"t":"caf\\u00e9 \\/ \\ud83d\\ude00 \\u2764\\ufe0f \\u00fc"}',
    );
    expect(metaJson({ u: 'https://x.example/a?b=c' })).toBe('{"u":"https:\\/\\/x.example\\/a?b=c"}');
    expect(metaJson({ b: 'a\\/b', n: '\u0080\u07ff\uffff' })).toBe(
      '{"b":"a\\\\\\/b","n":"\\u0080\\u07ff\\uffff"}',
    );
  });

  it('is ASCII and round-trips any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ unit: 'binary' }), (value, s) => {
        for (const v of [value, { s }]) {
          const json = metaJson(v);
          expect(/^[\x20-\x7f]*$/.test(json)).toBe(true);
          expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify(v)));
        }
      }),
    );
  });
});
