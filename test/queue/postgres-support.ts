import { randomBytes } from 'node:crypto';
import { CamelCasePlugin, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { PostgresQueue, type PostgresQueueOptions } from '../../src/queue/postgres.ts';
import { migrate } from '../../src/store/migrate.ts';
import type { Database } from '../../src/store/schema.ts';
import type { QueueHarness } from './contract.ts';

// The queue on a real PostgreSQL: each test file gets a database of its own, migrated as igdm
// migrates one, and dropped after; each test starts with an empty jobs table. Two harnesses on one
// database are two processes as far as PostgreSQL is concerned (two pools, two LISTEN connections).

/** The server the tests use (trust auth); a database of it to connect to while creating others. */
export const POSTGRES_URL = process.env.IGDM_TEST_POSTGRES_URL ?? 'postgres://root@127.0.0.1:5432/test';

export async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    console.warn(
      `PostgreSQL is not reachable at ${POSTGRES_URL}: its tests are skipped. Run one on 127.0.0.1:5432 ` +
        'with trust auth and a database `test`, or set IGDM_TEST_POSTGRES_URL.',
    );
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function onServer(query: string) {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(query);
  } finally {
    await client.end();
  }
}

/** A new database on the test server, migrated; drop() removes it (and ends its connections). */
export async function freshDatabase(topic: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `igdm_test_${topic}_${randomBytes(4).toString('hex')}`;
  await onServer(`create database ${name}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  const db = kyselyOn(url.toString()).db;
  try {
    await migrate(db as Kysely<unknown>, 'postgres');
  } finally {
    await db.destroy();
  }
  return { url: url.toString(), drop: () => onServer(`drop database if exists ${name} with (force)`) };
}

/** A Kysely over a pool of its own, as a process of igdm has. */
export function kyselyOn(url: string): { db: Kysely<Database>; pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => {});
  return {
    db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }), plugins: [new CamelCasePlugin()] }),
    pool,
  };
}

export interface PostgresHarness extends QueueHarness {
  pool: pg.Pool;
  queue(options?: PostgresQueueOptions): PostgresQueue;
  reopen(): Promise<PostgresHarness>;
}

/** The queue's backend on the database at `url()` (set once the file's database exists). */
export function postgresBackend(url: () => string): {
  open(): Promise<PostgresHarness>;
  closeAll(): Promise<void>;
} {
  const opened: { db: Kysely<Database>; queues: PostgresQueue[] }[] = [];
  const connect = (): PostgresHarness => {
    const { db, pool } = kyselyOn(url());
    const entry = { db, queues: [] as PostgresQueue[] };
    opened.push(entry);
    return {
      db,
      pool,
      queue(options) {
        const q = new PostgresQueue(db, {
          maxAttempts: 3,
          backoffMs: () => 50,
          pollMs: 50,
          leaseMs: 2000,
          listen: url(),
          ...options,
        });
        entry.queues.push(q);
        return q;
      },
      reopen: async () => connect(),
    };
  };
  return {
    async open() {
      const h = connect();
      await h.db.deleteFrom('jobs').execute();
      return h;
    },
    async closeAll() {
      for (const e of opened.splice(0)) {
        for (const q of e.queues) await q.close().catch(() => {});
        await e.db.destroy().catch(() => {});
      }
    },
  };
}
