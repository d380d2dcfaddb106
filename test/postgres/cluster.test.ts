import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Leader } from '../../src/cluster/leader.ts';
import { ChangeNotices } from '../../src/cluster/notices.ts';
import { PostgresIngestWriter } from '../../src/ingest/postgres-writer.ts';
import { createLogger } from '../../src/log.ts';
import { PostgresProjection } from '../../src/projection/postgres-projection.ts';
import { openPostgresStore, type PostgresStore } from '../../src/store/index.ts';
import { sleep, until } from '../send/support.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/postgres.ts';

// The two pieces several processes coordinate with (src/cluster/): the leader lock, and the change
// notices of migration 0026. Each "process" here is an object with connections of its own; what
// happens to a connection is done to it from PostgreSQL's side (pg_terminate_backend), as when a
// process dies or the network drops it.

const available = await postgresAvailable();
const log = createLogger('silent');

describe.skipIf(!available)('processes on one PostgreSQL database', () => {
  let db: TestDatabase;
  let store: PostgresStore;
  const closing: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    store = await openPostgresStore(db.url);
  });
  afterAll(async () => {
    for (const c of closing) await c.close();
    await store?.close();
    await db?.drop();
  });

  /** Ends the server processes of the connections `which` picks (a where clause on `pid`), as a crash would. */
  async function terminate(which: string): Promise<number> {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid() and ${which}`,
      );
      return rows.length;
    } finally {
      await client.end();
    }
  }
  /** The connection holding an advisory lock: the leader's. */
  const LOCK_HOLDER = `pid in (select pid from pg_locks where locktype = 'advisory' and granted)`;

  function candidate(name: string, trail: string[]) {
    const leader = new Leader({
      connection: db.url,
      retryMs: 100,
      log,
      lead: async () => {
        trail.push(`${name} leads`);
      },
      yieldLead: async () => {
        trail.push(`${name} stops`);
      },
    });
    closing.push(leader);
    return leader;
  }

  it('one leader at a time; the lock passes on when its connection dies, and when its process stops', async () => {
    const trail: string[] = [];
    const a = candidate('a', trail);
    const b = candidate('b', trail);
    await a.start();
    await b.start();
    await sleep(300); // b tries three times more
    expect(trail).toEqual(['a leads']);
    expect([a.leading, b.leading]).toEqual([true, false]);

    // a's connection is cut: a stops its tasks at its next check, b takes the lock.
    expect(await terminate(LOCK_HOLDER)).toBe(1);
    await until(
      () => trail.slice(),
      (t) => t.includes('b leads') && t.includes('a stops'),
      'b leading, a stopped',
      10_000,
    );
    expect(b.leading).toBe(true);
    expect(a.leading).toBe(false);
    await sleep(300);
    expect(trail.filter((t) => t.endsWith('leads'))).toEqual(['a leads', 'b leads']); // a waits now

    // b stops (a process shutting down): the lock is free at once, a takes it.
    await b.close();
    await until(
      () => a.leading,
      (l) => l,
      'a leading again',
      10_000,
    );
    // (a stops when its next check fails; b may have taken the lock just before or after that.)
    expect([...trail.slice(0, 3)].sort()).toEqual(['a leads', 'a stops', 'b leads']);
    expect(trail.slice(3)).toEqual(['b stops', 'a leads']);
  });

  it('a committed change is announced; a rolled-back one is not; a lost LISTEN connection reloads everything', async () => {
    const notices = new ChangeNotices(db.url, log);
    closing.push(notices);
    const reloads = { keys: 0, channels: 0 };
    notices.follow('api_keys', async () => {
      reloads.keys++;
    });
    notices.follow('channels', async () => {
      reloads.channels++;
    });
    // Connecting reads everything once (what was announced before is unknown).
    await until(
      () => ({ ...reloads }),
      (r) => r.keys === 1 && r.channels === 1,
      'the first reload',
      10_000,
    );

    const key = {
      id: 'key_cluster',
      name: 'cluster',
      agent: null,
      channels: null,
      scopes: '["read"]',
      hint: 'abcd',
      keyHash: 'ff'.repeat(32),
      createdAt: Date.now(),
      revokedAt: null,
    };
    await store.db
      .transaction()
      .execute(async (trx) => {
        await trx
          .insertInto('apiKeys')
          .values(key as never)
          .execute();
        throw new Error('rolled back');
      })
      .catch(() => {});
    await sleep(500);
    expect(reloads).toEqual({ keys: 1, channels: 1 });

    await store.db
      .insertInto('apiKeys')
      .values(key as never)
      .execute();
    await until(
      () => reloads.keys,
      (n) => n === 2,
      'the key announced',
      10_000,
    );
    expect(reloads.channels).toBe(1);

    // The LISTEN connection is cut: on its return every table is read again.
    expect(await terminate(`query = 'listen igdm_changed'`)).toBe(1);
    await until(
      () => ({ ...reloads }),
      (r) => r.keys === 3 && r.channels === 2,
      'everything read again after the reconnect',
      10_000,
    );
  });

  it("a worker's projection is the web processes' fallback: fresh events are theirs, one that waited is applied", async () => {
    // Stored as a web process stores them; no web process applies them here.
    const writer = new PostgresIngestWriter(store.db, [], () => {});
    const fallback = new PostgresProjection(store.relaxed, {
      enqueue: async () => {},
      fallbackAfterMs: 3000,
      log,
    });
    closing.push(fallback);
    fallback.start();
    const unapplied = async () =>
      Number(
        (
          await sql<{ n: string }>`select count(*) as n from webhook_events where applied_at is null`.execute(
            store.db,
          )
        ).rows[0]!.n,
      );
    const at = Date.now();
    const body = {
      object: 'instagram',
      entry: [
        {
          id: '17841400000000777',
          time: at,
          messaging: [
            {
              sender: { id: '5550001' },
              recipient: { id: '17841400000000777' },
              timestamp: at,
              message: { mid: 'fallback-m1', text: 'waits for the web process' },
            },
          ],
        },
      ],
    };
    const stored = await writer.write({
      body: JSON.stringify(body),
      channelId: null,
      verifiedBy: [],
      receivedAt: at,
    });
    expect(stored).toMatchObject({ status: 'stored', inserted: 1 });
    await sleep(700); // the fallback has looked (every 500 ms): the event is younger than 3 s
    expect(await unapplied()).toBe(1);
    await until(unapplied, (n) => n === 0, 'applied by the fallback once it waited', 10_000);
    expect(Date.now() - at).toBeGreaterThanOrEqual(3000);
  });

  it("a fallback whose look failed reports it in /readyz's apply until a look succeeds, though it applies nothing", async () => {
    const own = await openPostgresStore(db.url); // pools of its own: the earlier tests end connections
    const fallback = new PostgresProjection(own.relaxed, {
      enqueue: async () => {},
      fallbackAfterMs: 60_000,
      log,
    });
    closing.push(fallback, own);
    fallback.start();
    // The events table locked by another connection: the fallback's next look waits on it, and is
    // cancelled (as a failover or a restart of PostgreSQL would end it).
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table webhook_events in access exclusive mode');
      // Every look waiting on it is cancelled (the earlier test's fallback looks too) until this one's was.
      const waiting = `pid in (select pid from pg_locks where not granted and relation = 'webhook_events'::regclass)`;
      await until(
        async () => {
          await locker.query(
            `select pg_cancel_backend(pid) from pg_stat_activity where datname = current_database() and ${waiting}`,
          );
          await sleep(50);
          return fallback.applyFailure;
        },
        (f) => f !== null,
        'the failed look reported',
        10_000,
      );
    } finally {
      await locker.query('rollback').catch(() => {});
      await locker.end();
    }
    await until(
      () => fallback.applyFailure,
      (f) => f === null,
      'reported no more once a look succeeds',
    );
  });
});
