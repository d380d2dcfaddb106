import { describe, expect, it } from 'vitest';
import { ago } from './time.ts';

describe('ago: how long ago, as the conversation list says it', () => {
  const now = Date.parse('2026-12-06T12:00:00Z');
  const before = (ms: number) => new Date(now - ms).toISOString();
  const MIN = 60_000;
  const DAY = 24 * 60 * MIN;

  it('says now, minutes, hours, days, months and years', () => {
    expect(ago(before(20_000), now)).toBe('now');
    expect(ago(before(5 * MIN), now)).toBe('5m');
    expect(ago(before(59 * MIN), now)).toBe('59m');
    expect(ago(before(60 * MIN), now)).toBe('1h');
    expect(ago(before(23 * 60 * MIN), now)).toBe('23h');
    expect(ago(before(DAY), now)).toBe('1d');
    expect(ago(before(29 * DAY), now)).toBe('29d');
    expect(ago(before(95 * DAY), now)).toBe('3mo');
    expect(ago(before(800 * DAY), now)).toBe('2y');
  });

  it('says nothing without a time, and now for a clock slightly ahead of the browser', () => {
    expect(ago(null, now)).toBe('');
    expect(ago(new Date(now + 5000).toISOString(), now)).toBe('now');
  });
});
