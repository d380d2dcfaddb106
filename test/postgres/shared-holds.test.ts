import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ChannelRegistry } from '../../src/channels/registry.ts';
import { createLogger } from '../../src/log.ts';
import { Health } from '../../src/send/channel-health.ts';
import { SharedHolds } from '../../src/send/shared-holds.ts';
import { openPostgresStore, type PostgresStore } from '../../src/store/index.ts';
import { SecretBox } from '../../src/store/secret-box.ts';
import { until } from '../send/support.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/postgres.ts';

// Channels' holds shared by the processes on one PostgreSQL database (send/shared-holds.ts): each
// "process" here is a Health with its own pool and LISTEN connection, as startService makes them.
// The sender reads Health (canSend, holdMs); what one process's sends learnt, every process's obeys.
// Through the service (a throttle from Meta): test/postgres/shared-limits.test.ts.

const postgres = await postgresAvailable();
let database: TestDatabase;
const opened: { store: PostgresStore; holds: SharedHolds }[] = [];
const NOW = 1_800_000_000_000;
const now = () => NOW;

beforeAll(async () => {
  if (postgres) database = await createTestDatabase();
});
afterAll(async () => {
  for (const p of opened) {
    await p.holds.close();
    await p.store.close();
  }
  await database?.drop();
});

/** A process: its pool, its Health read from the store, its holds shared. */
async function process_(lifted: () => void = () => {}) {
  const store = await openPostgresStore(database.url);
  const log = createLogger(process.env.HOLDS_LOG ?? 'silent');
  const health = await Health.load(store.db, log);
  const holds = await SharedHolds.start({ db: store.db, connection: database.url, health, log, now, lifted });
  opened.push({ store, holds });
  return { store, health, holds };
}

it.skipIf(!postgres)('a throttle and a pause one process met hold every process’s sends', async () => {
  const a = await process_();
  const b = await process_();
  a.health.throttled('ch_throttle', NOW + 60_000);
  await until(
    () => b.health.holdMs('ch_throttle', NOW),
    (ms) => ms === 60_000,
    'b held by a’s throttle',
  );
  expect(b.health.canSend('ch_throttle', NOW)).toBe(false);
  expect(b.health.of('ch_throttle')).toBe('throttled');
  expect(b.health.canSend('ch_other', NOW)).toBe(true);
  b.health.paused('ch_pause', NOW);
  await until(
    () => a.health.of('ch_pause'),
    (h) => h === 'paused',
    'a paused by b',
  );
  expect(a.health.holdMs('ch_pause', NOW)).toBe(3_600_000);
});

it.skipIf(!postgres)(
  'the circuit breaker counts every process’s failures in a row, and a send anywhere closes it',
  async () => {
    const a = await process_();
    const b = await process_();
    for (let i = 0; i < 3; i++) a.health.failed('ch_breaker', NOW);
    await a.holds.flushed();
    await until(
      () => b.health.canSend('ch_breaker', NOW),
      (ok) => ok,
      'b still sending after 3',
    );
    b.health.failed('ch_breaker', NOW);
    b.health.failed('ch_breaker', NOW); // the fifth in a row, across the two
    for (const p of [a, b])
      await until(
        () => p.health.holdMs('ch_breaker', NOW),
        (ms) => ms === 30_000,
        'the breaker open everywhere',
      );
    // A send that went (after the breaker's time) closes it for both: four more failures do not open it.
    a.health.sent('ch_breaker');
    await a.holds.flushed();
    for (let i = 0; i < 4; i++) b.health.failed('ch_breaker', NOW + 30_000);
    await b.holds.flushed();
    await a.holds.flushed();
    expect(b.health.holdMs('ch_breaker', NOW + 30_000)).toBe(0);
  },
);

it.skipIf(!postgres)(
  'a refused token holds every process until a new one is set in any of them, which wakes the others’ sends',
  async () => {
    let woken = 0;
    const a = await process_(() => woken++);
    const b = await process_();
    a.health.needsToken('ch_token');
    await until(
      () => b.health.holdMs('ch_token', NOW),
      (ms) => ms === Number.POSITIVE_INFINITY,
      'b waits for a token',
    );
    b.health.tokenSet('ch_token');
    await until(
      () => a.health.canSend('ch_token', NOW),
      (ok) => ok,
      'a sends again',
    );
    expect(woken).toBe(1);
  },
);

it.skipIf(!postgres)('a process started later reads the holds as they are: no priming', async () => {
  const a = await process_();
  a.health.throttled('ch_later', NOW + 5_000);
  await a.holds.flushed();
  const c = await process_();
  expect(c.health.holdMs('ch_later', NOW)).toBe(5_000);
});

it.skipIf(!postgres)(
  'a deleted channel (DELETE /v1/channels/:id) takes its hold with it; the others keep theirs',
  async () => {
    const a = await process_();
    const channels = new ChannelRegistry(a.store.db, new SecretBox(randomBytes(32)), now);
    await channels.load();
    const created = await channels.create({
      id: 'ch_deleted',
      name: 'Deleted',
      kind: 'instagram',
      login: 'instagram',
      accountId: '17841400000000077',
      pageId: null,
      appSecret: 'app-secret',
      verifyToken: 'verify-token',
      accessToken: 'access-token',
      graphApiUrl: 'http://127.0.0.1:9',
      graphApiVersion: 'v24.0',
      allowSha1: false,
      appId: null,
    });
    expect(created).toHaveProperty('created');
    a.health.paused('ch_deleted', NOW);
    a.health.throttled('ch_kept', NOW + 60_000);
    await a.holds.flushed();
    const held = async () =>
      (
        await a.store.db
          .selectFrom('channelHolds')
          .select('channelId')
          .where('channelId', 'in', ['ch_deleted', 'ch_kept'])
          .orderBy('channelId')
          .execute()
      ).map((r) => r.channelId);
    expect(await held()).toEqual(['ch_deleted', 'ch_kept']);

    expect(await channels.remove('ch_deleted')).toBe('deleted');
    expect(await held()).toEqual(['ch_kept']);
    // A process started now reads no hold for the deleted channel, and the other's as it was.
    const c = await process_();
    expect(c.health.holdMs('ch_deleted', NOW)).toBe(0);
    expect(c.health.holdMs('ch_kept', NOW)).toBe(60_000);
  },
);
