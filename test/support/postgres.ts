import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describeUrl } from '../../src/store/postgres.ts';

// The PostgreSQL the tests run against: 127.0.0.1:5432, trust auth, database `test` (or
// IGDM_TEST_POSTGRES_URL). Each test file works in a database of its own, made here and dropped
// after, so files running at once never see each other's rows or schema.

export const POSTGRES_ADMIN_URL = process.env.IGDM_TEST_POSTGRES_URL ?? 'postgres://root@127.0.0.1:5432/test';

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/**
 * Whether PostgreSQL answers. Under CI its absence fails the file; elsewhere its tests are skipped,
 * with a message saying how to run them.
 */
export async function postgresAvailable(): Promise<boolean> {
  try {
    await admin((c) => c.query('select 1'));
    return true;
  } catch (err) {
    const reason = `PostgreSQL is not reachable at ${describeUrl(POSTGRES_ADMIN_URL)} (${(err as Error).message})`;
    if (process.env.CI) throw new Error(`${reason}: CI runs every PostgreSQL test`);
    process.stderr.write(
      `${reason}: its tests are skipped. To run them, start PostgreSQL on 127.0.0.1:5432 with trust auth and a database "test", or set IGDM_TEST_POSTGRES_URL.\n`,
    );
    return false;
  }
}

export interface TestDatabase {
  /** postgres://… of the new, empty database. */
  url: string;
  name: string;
  /** Drops it, ending the connections still open to it. */
  drop(): Promise<void>;
}

/** A new, empty database `igdm_test_<random>` on the test server. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `igdm_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`create database ${name}`));
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => admin((c) => c.query(`drop database if exists ${name} with (force)`)).then(() => {}),
  };
}
