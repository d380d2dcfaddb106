import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { Health } from '../../src/send/channel-health.ts';

// Each channel's health and holds, as the sender changes them on a send's answer (the sends
// themselves: failures.test.ts). What changes the health is returned, for the send's outcome to store.

const T = 1_000_000;
const fresh = () => new Health([['a', 'ok']], createLogger('silent'));

describe('channel health', () => {
  it('starts as the store has it; a channel it does not know is ok', () => {
    const h = new Health(
      [
        ['a', 'needs_token'],
        ['b', 'paused'],
      ],
      createLogger('silent'),
    );
    expect([h.of('a'), h.of('b'), h.of('c')]).toEqual(['needs_token', 'paused', 'ok']);
    // A stored pause has no hold left in memory; a refused token holds until a new one.
    expect(h.holdMs('a', T)).toBe(Number.POSITIVE_INFINITY);
    expect(h.holdMs('b', T)).toBe(0);
    expect(h.canSend('b', T)).toBe(true);
  });

  it('the circuit breaker opens at the 5th failure in a row, for 30 s; a send that goes closes it', () => {
    const h = fresh();
    for (let n = 1; n < 5; n++) expect(h.failed('a', T)).toBeUndefined();
    expect(h.failed('a', T)).toBe(T + 30_000);
    expect(h.canSend('a', T + 29_999)).toBe(false);
    expect(h.holdMs('a', T + 10_000)).toBe(20_000);
    expect(h.canSend('a', T + 30_000)).toBe(true);
    expect(h.of('a')).toBe('ok'); // the breaker is no health of its own

    expect(h.sent('a')).toBeUndefined(); // already ok: nothing to store
    for (let n = 1; n < 5; n++) expect(h.failed('a', T)).toBeUndefined(); // counted afresh
  });

  it('throttled and paused hold the channel; a token refused holds it until a new one', () => {
    const h = fresh();
    expect(h.throttled('a', T + 60_000)).toEqual({ channelId: 'a', health: 'throttled' });
    expect(h.heldUntil('a')).toBe(T + 60_000);
    expect(h.canSend('a', T)).toBe(false);
    expect(h.canSend('a', T + 60_000)).toBe(true);

    expect(h.paused('a', T)).toEqual({ channelId: 'a', health: 'paused', until: T + 3_600_000 });
    expect(h.holdMs('a', T + 3_599_999)).toBe(1);
    expect(h.sent('a')).toEqual({ channelId: 'a', health: 'ok' });

    expect(h.needsToken('a')).toEqual({ channelId: 'a', health: 'needs_token' });
    expect(h.holdMs('a', T + 10 * 3_600_000)).toBe(Number.POSITIVE_INFINITY);
    expect(h.canSend('a', T + 10 * 3_600_000)).toBe(false);
  });
});
