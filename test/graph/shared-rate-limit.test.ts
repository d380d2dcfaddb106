import type { Kysely, KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONVERSATIONS_API_LIMITS,
  type Limiter,
  RateLimiter,
  type RateLimits,
} from '../../src/graph/rate-limit.ts';
import { SharedRateLimiter } from '../../src/graph/shared-rate-limit.ts';
import { openPostgresStore, type PostgresStore } from '../../src/store/index.ts';
import type { Database } from '../../src/store/schema.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/postgres.ts';

// The limiter's rules through its port (take, then record or release), on both implementations:
// in this process's memory (the embedded store) and in PostgreSQL's rows, shared by every process on
// the database (graph/shared-rate-limit.ts). Then what only the shared one does: two processes (two
// pools) counting into one window, and the place of a call whose process died expiring.

const postgres = await postgresAvailable();
let database: TestDatabase | undefined;
let store: PostgresStore | undefined;
const others: PostgresStore[] = [];

beforeAll(async () => {
  if (!postgres) return;
  database = await createTestDatabase();
  store = await openPostgresStore(database.url);
});
afterAll(async () => {
  for (const s of others) await s.close();
  await store?.close();
  await database?.drop();
});

const clock = () => {
  let t = 1_000_000;
  const advance = (ms: number) => {
    t += ms;
  };
  return { now: () => t, advance, sleep: async (ms: number) => advance(ms) };
};
type Clock = ReturnType<typeof clock>;

let accounts = 0;
/** Each test its own account: the shared windows outlive a test. */
const account = () => `acct${++accounts}`;

interface Subject {
  limiter: Limiter;
  /** Every place settled so far is written. */
  settled(): Promise<void>;
}

const IN_FLIGHT_MS = 15_000;
const shared = (db: Kysely<Database>, limits: RateLimits, c: Clock): Subject => {
  const limiter = new SharedRateLimiter(db, limits, {
    namespace: 'test',
    inFlightMs: IN_FLIGHT_MS,
    now: c.now,
    sleep: c.sleep,
  });
  return { limiter, settled: () => limiter.settled() };
};

const implementations: [string, boolean, (limits: RateLimits, c: Clock) => Subject][] = [
  ['in memory', true, (limits, c) => ({ limiter: new RateLimiter(limits, c), settled: async () => {} })],
  ['on PostgreSQL', postgres, (limits, c) => shared(store!.db, limits, c)],
];

describe.each(implementations)('the limiter %s', (_name, available, make) => {
  /** How long until a call fits (0: it took a place, released at once). */
  const waitOf = async (s: Subject, acct: string, kind: string, to: string | null) => {
    const t = await s.limiter.take(acct, kind, to);
    t.place?.release();
    await s.settled();
    return t.waitMs;
  };
  const takeNow = async (s: Subject, acct: string, kind: string, to: string | null) => {
    const t = await s.limiter.take(acct, kind, to);
    expect(t.waitMs).toBe(0);
    return t.place!;
  };

  it.skipIf(!available)(
    'calls in flight fill the window: no room until one is answered and a period has passed',
    async () => {
      const c = clock();
      const s = make({ sendPerSecond: 3, mediaPerSecond: 1 }, c);
      const acct = account();
      const places = [];
      for (let i = 0; i < 3; i++) places.push(await takeNow(s, acct, 'text', 'a'));
      // Three in flight, none answered: a fourth waits at least a full period.
      expect(await waitOf(s, acct, 'text', 'b')).toBe(1000);
      c.advance(200);
      places[0]!.record(); // answered at +200: counted until +1200
      await s.settled();
      expect(await waitOf(s, acct, 'text', 'b')).toBe(1000);
      places[1]!.release(); // never left: its place is free at once
      await s.settled();
      expect(await waitOf(s, acct, 'text', 'b')).toBe(0);
      await takeNow(s, acct, 'text', 'b');
      expect(await waitOf(s, acct, 'text', 'b')).toBe(1000); // 1 counted, 2 in flight
      places[2]!.record();
      places[2]!.record(); // settling twice counts once
      await s.settled();
      expect(await waitOf(s, acct, 'text', 'b')).toBe(1000); // 2 counted at +200, 1 in flight
      c.advance(999);
      expect(await waitOf(s, acct, 'text', 'b')).toBe(1); // the counted ones leave at +1200
    },
  );

  it.skipIf(!available)('counted calls leave the window a period after their answer', async () => {
    const c = clock();
    const s = make({ sendPerSecond: 2, mediaPerSecond: 1 }, c);
    const acct = account();
    const first = await takeNow(s, acct, 'text', null);
    c.advance(100);
    first.record(); // counted at +100
    await s.settled();
    c.advance(100);
    (await takeNow(s, acct, 'text', null)).record(); // counted at +200
    await s.settled();
    expect(await waitOf(s, acct, 'text', null)).toBe(900); // the first leaves at +1100
    c.advance(900);
    expect(await waitOf(s, acct, 'text', null)).toBe(0);
  });

  it.skipIf(!available)(
    'media and other sends have windows of their own; caps per recipient count calls in flight too',
    async () => {
      const c = clock();
      const s = make({ sendPerSecond: 100, mediaPerSecond: 1, perRecipientPerDay: 1 }, c);
      const acct = account();
      await takeNow(s, acct, 'video', 'a');
      expect(await waitOf(s, acct, 'audio', 'b')).toBe(1000);
      expect(await waitOf(s, acct, 'text', 'b')).toBe(0);
      expect(await waitOf(s, acct, 'text', 'a')).toBe(24 * 3_600_000); // a's day is taken by the call in flight
      expect(await waitOf(s, account(), 'text', 'a')).toBe(0); // another account's windows are its own
    },
  );

  it.skipIf(!available)('a per-minute cap: the wait is until the oldest counted call leaves', async () => {
    const c = clock();
    const s = make({ sendPerSecond: 100, mediaPerSecond: 10, perMinute: 2 }, c);
    const acct = account();
    (await takeNow(s, acct, 'text', null)).record();
    c.advance(10_000);
    (await takeNow(s, acct, 'text', null)).record();
    await s.settled();
    c.advance(5_000);
    expect(await waitOf(s, acct, 'text', null)).toBe(45_000);
    c.advance(45_000);
    expect(await waitOf(s, acct, 'text', null)).toBe(0);
  });

  it.skipIf(!available)(
    'run() keeps calls within the rate as Meta counts them (on arrival): at most 2 a second for the Conversations API',
    async () => {
      const c = clock();
      const s = make(CONVERSATIONS_API_LIMITS, c);
      const acct = account();
      const arrivals: number[] = [];
      // Each call arrives 30 ms after it leaves and is answered 200 ms later.
      const call = async () => {
        c.advance(30);
        arrivals.push(c.now());
        c.advance(200);
      };
      for (let i = 0; i < 5; i++) {
        await s.limiter.run(acct, call);
        await s.settled();
      }
      for (const [i, t] of arrivals.entries()) {
        const inWindow = arrivals.filter((u) => u > t - 1000 && u <= t);
        expect(inWindow.length, `call ${i}`).toBeLessThanOrEqual(2);
      }
      const before = c.now();
      await s.limiter.run(account(), call);
      expect(c.now() - before).toBe(230); // another account: no wait
    },
  );
});

describe.skipIf(!postgres)('the limiter shared on PostgreSQL', () => {
  /** Another process: a pool of its own on the same database. */
  const otherProcess = async () => {
    const s = await openPostgresStore(database!.url);
    others.push(s);
    return s;
  };

  it('two processes count into the same windows: a place one holds is no other’s', async () => {
    const c = clock();
    const limits = { sendPerSecond: 2, mediaPerSecond: 1 };
    const a = shared(store!.db, limits, c);
    const b = shared((await otherProcess()).db, limits, c);
    const acct = account();
    const first = await a.limiter.take(acct, 'text', null);
    const second = await b.limiter.take(acct, 'text', null);
    expect([first.waitMs, second.waitMs]).toEqual([0, 0]);
    expect((await a.limiter.take(acct, 'text', null)).waitMs).toBe(1000);
    first.place!.release();
    await a.settled();
    expect((await b.limiter.take(acct, 'text', null)).waitMs).toBe(0); // a's release is b's room
    expect((await a.limiter.take(acct, 'text', null)).waitMs).toBe(1000); // b took it
  });

  it('a process told the window is full waits as told without asking again; a place it frees is room at once', async () => {
    const c = clock();
    const limits = { sendPerSecond: 1, mediaPerSecond: 1 };
    const a = shared(store!.db, limits, c);
    const b = shared((await otherProcess()).db, limits, c);
    const acct = account();
    const held = await a.limiter.take(acct, 'text', null);
    c.advance(100);
    held.place!.record(); // counted from +100
    await a.settled();
    expect((await b.limiter.take(acct, 'text', null)).waitMs).toBe(1000);
    c.advance(400);
    expect((await b.limiter.take(acct, 'text', null)).waitMs).toBe(600);
    c.advance(600);
    const next = await b.limiter.take(acct, 'text', null);
    expect(next.waitMs).toBe(0);
    next.place!.release(); // never left
    await b.settled();
    expect((await b.limiter.take(acct, 'text', null)).waitMs).toBe(0);
  });

  it('many calls at the same moment from two processes: exactly the limit get a place', async () => {
    const c = clock();
    const limits = { sendPerSecond: 10, mediaPerSecond: 1 };
    const a = shared(store!.db, limits, c);
    const b = shared((await otherProcess()).db, limits, c);
    const acct = account();
    const takes = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).limiter.take(acct, 'text', null)),
    );
    expect(takes.filter((t) => t.place).length).toBe(10);
    expect(takes.filter((t) => !t.place).every((t) => t.waitMs === 1000)).toBe(true);
  });

  it('calls asked together from one process get the places in the order asked; a place freed is room for the next call at once', async () => {
    const c = clock();
    const s = shared(store!.db, { sendPerSecond: 3, mediaPerSecond: 1 }, c);
    const acct = account();
    // One round trip in flight per account: the calls asked meanwhile go together in the next.
    const takes = await Promise.all(Array.from({ length: 6 }, () => s.limiter.take(acct, 'text', null)));
    expect(takes.map((t) => t.waitMs)).toEqual([0, 0, 0, 1000, 1000, 1000]);
    // Freed, then a call straight after, before the free was written on its own: it goes first.
    takes[1]!.place!.release();
    const next = await s.limiter.take(acct, 'text', null);
    expect(next.waitMs).toBe(0);
    expect((await s.limiter.take(acct, 'text', null)).waitMs).toBe(1000);
  });

  it('a settle whose round trip failed goes again with the next: its answer counts from when it came', async () => {
    const c = clock();
    let failNext = false;
    const flaky: KyselyPlugin = {
      transformQuery({ node }) {
        if (failNext) {
          failNext = false;
          throw new Error('the connection was lost');
        }
        return node;
      },
      transformResult: async ({ result }) => result,
    };
    const s = shared(store!.db.withPlugin(flaky), { sendPerSecond: 1, mediaPerSecond: 1 }, c);
    const acct = account();
    const t = await s.limiter.take(acct, 'text', null);
    c.advance(100);
    failNext = true;
    t.place!.record(); // answered at +100; the round trip that carries it fails
    await s.settled();
    c.advance(500);
    expect((await s.limiter.take(acct, 'text', null)).waitMs).toBe(500); // it leaves at +1100
  });

  it('a place left in flight by a process that died is free once it expires', async () => {
    const c = clock();
    const limits = { sendPerSecond: 1, mediaPerSecond: 1 };
    const dying = await otherProcess();
    const dead = shared(dying.db, limits, c);
    const acct = account();
    expect((await dead.limiter.take(acct, 'text', null)).waitMs).toBe(0);
    await dying.close(); // its call never answered, never settled
    others.splice(others.indexOf(dying), 1);
    const alive = shared(store!.db, limits, c);
    c.advance(IN_FLIGHT_MS - 1);
    expect((await alive.limiter.take(acct, 'text', null)).waitMs).toBe(1000);
    c.advance(1);
    expect((await alive.limiter.take(acct, 'text', null)).waitMs).toBe(0);
  });

  it('passed windows are pruned as calls come', async () => {
    const c = clock();
    const s = shared(store!.db, { sendPerSecond: 5, mediaPerSecond: 1 }, c);
    const acct = account();
    for (let i = 0; i < 20; i++) {
      (await s.limiter.take(acct, 'text', null)).place?.record();
      await s.settled();
      c.advance(300);
    }
    const row = await store!.db
      .selectFrom('rateWindows')
      .selectAll()
      .where('key', '=', `test:${acct}:send`)
      .executeTakeFirstOrThrow();
    // The calls of the last second only (one each 300 ms), none in flight.
    expect(JSON.parse(`[${row.hits.slice(1, -1)}]`)).toHaveLength(4);
    expect(row.flying).toBe('{}');
  });

  it('without a clock of its own it reads the database’s: a place counts from the answer there', async () => {
    const s = new SharedRateLimiter(
      store!.db,
      { sendPerSecond: 1, mediaPerSecond: 1 },
      {
        namespace: 'test',
        inFlightMs: IN_FLIGHT_MS,
      },
    );
    const acct = account();
    const t = await s.take(acct, 'text', null);
    expect(t.waitMs).toBe(0);
    t.place!.record();
    await s.settled();
    const next = await s.take(acct, 'text', null);
    expect(next.waitMs).toBeGreaterThan(900);
    expect(next.waitMs).toBeLessThanOrEqual(1000);
  });
});
