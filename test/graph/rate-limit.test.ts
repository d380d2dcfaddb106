import { expect, it } from 'vitest';
import { conversationsApiLimiter, RateLimiter } from '../../src/graph/rate-limit.ts';

// The limiter's windows with calls in flight: a reserved call occupies its place from before it
// leaves until its answer, and is counted from the answer on.

const clock = () => {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
};

it('calls in flight fill the window: no room until one is answered and a period has passed', () => {
  const c = clock();
  const limiter = new RateLimiter({ sendPerSecond: 3, mediaPerSecond: 1 }, { now: c.now });
  const places = [1, 2, 3].map(() => {
    expect(limiter.wait('acct', 'text', 'a')).toBe(0);
    return limiter.reserve('acct', 'text', 'a');
  });
  // Three in flight, none answered: a fourth waits at least a full period.
  expect(limiter.wait('acct', 'text', 'b')).toBe(1000);
  c.advance(200);
  places[0]!.record(); // answered at +200: counted until +1200
  expect(limiter.wait('acct', 'text', 'b')).toBe(1000);
  places[1]!.release(); // never left: its place is free at once
  expect(limiter.wait('acct', 'text', 'b')).toBe(0);
  limiter.reserve('acct', 'text', 'b');
  expect(limiter.wait('acct', 'text', 'b')).toBe(1000); // 1 counted, 2 in flight
  places[2]!.record();
  places[2]!.record(); // settling twice counts once
  expect(limiter.wait('acct', 'text', 'b')).toBe(1000); // 2 counted at +200, 1 in flight
  c.advance(999);
  expect(limiter.wait('acct', 'text', 'b')).toBe(1); // the counted ones leave at +1200
});

it('counted calls leave the window a period after their answer', () => {
  const c = clock();
  const limiter = new RateLimiter({ sendPerSecond: 2, mediaPerSecond: 1 }, { now: c.now });
  const first = limiter.reserve('acct', 'text', null);
  c.advance(100);
  first.record(); // counted at +100
  c.advance(100);
  limiter.reserve('acct', 'text', null).record(); // counted at +200
  expect(limiter.wait('acct', 'text', null)).toBe(900); // the first leaves at +1100
  c.advance(900);
  expect(limiter.wait('acct', 'text', null)).toBe(0);
});

it('media and other sends have windows of their own; caps per recipient count calls in flight too', () => {
  const c = clock();
  const limiter = new RateLimiter(
    { sendPerSecond: 100, mediaPerSecond: 1, perRecipientPerDay: 1 },
    { now: c.now },
  );
  limiter.reserve('acct', 'video', 'a');
  expect(limiter.wait('acct', 'audio', 'b')).toBe(1000);
  expect(limiter.wait('acct', 'text', 'b')).toBe(0);
  expect(limiter.wait('acct', 'text', 'a')).toBe(24 * 3_600_000); // a's day is taken by the call in flight
});

it('run() keeps calls within the rate as Meta counts them (on arrival): at most 2 a second for the Conversations API', async () => {
  const c = clock();
  const pacer = conversationsApiLimiter({ now: c.now, sleep: async (ms: number) => void c.advance(ms) });
  const arrivals: number[] = [];
  // Each call arrives 30 ms after it leaves and is answered 200 ms later; five for one account,
  // one for another (not held up by the first's).
  const call = async () => {
    c.advance(30);
    arrivals.push(c.now());
    c.advance(200);
  };
  for (let i = 0; i < 5; i++) await pacer.run('acct', call);
  for (const [i, t] of arrivals.entries()) {
    const inWindow = arrivals.filter((u) => u > t - 1000 && u <= t);
    expect(inWindow.length, `call ${i}`).toBeLessThanOrEqual(2);
  }
  const before = c.now();
  await pacer.run('other', call);
  expect(c.now() - before).toBe(230); // no wait
});
