import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { type Config, loadConfig } from '../../src/config.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { sign } from '../../src/meta/signature.ts';
import { type Service, type ServiceOptions, startService } from '../../src/service.ts';
import type { SqliteStore } from '../../src/store/index.ts';
import { createTestDatabase, type TestDatabase } from './postgres.ts';

// A real igdm service on a fresh embedded store and a free port, for tests that go through HTTP.

export const APP_SECRET = 'test-app-secret';
export const VERIFY_TOKEN = 'test-verify-token';
export const ACCOUNT_ID = '17841400000000001';
export const API_KEY = 'test-api-key-0123456789';

export const testEnv = (dir: string, extra: Record<string, string> = {}) => ({
  PORT: '0',
  HOST: '127.0.0.1',
  DATABASE_URL: `sqlite:${join(dir, 'igdm.sqlite')}`,
  META_APP_SECRET: APP_SECRET,
  WEBHOOK_VERIFY_TOKEN: VERIFY_TOKEN,
  INSTAGRAM_USER_ID: ACCOUNT_ID,
  INSTAGRAM_ACCESS_TOKEN: 'test-access-token',
  // Nothing leaves the machine: Graph calls (profiles) go to a closed loopback port unless a test
  // points them at a sandbox.
  INSTAGRAM_GRAPH_API_URL: 'http://127.0.0.1:9',
  IGDM_API_KEY: API_KEY,
  LOG_LEVEL: 'silent',
  // Catching up on missed webhooks (src/backfill/) only in the tests that ask for it.
  IGDM_BACKFILL_ON_START: 'false',
  IGDM_BACKFILL_INTERVAL_MINUTES: '0',
  ...extra,
});

export interface TestService extends Service {
  dir: string;
  config: Config;
  /** POSTs a body to a webhook path, signed with the app secret unless headers say otherwise. */
  post(
    body: string | object,
    opts?: { path?: string; headers?: Record<string, string>; secret?: string },
  ): Promise<Response>;
  api(path: string, init?: RequestInit): Promise<Response>;
  /** Number of stored webhook events. */
  eventCount(): Promise<number>;
  /** Resolves when every stored event has been applied and the engine has handled it. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestService(
  extraEnv: Record<string, string> = {},
  dir?: string,
  options: ServiceOptions = {},
  /** Where the service logs (default: nowhere). */
  log: Logger = createLogger('silent'),
): Promise<TestService> {
  const root = dir ?? mkdtempSync(join(tmpdir(), 'igdm-test-'));
  const explicitStore = Boolean(extraEnv.DATABASE_URL);
  if (!explicitStore) extraEnv = { ...extraEnv, ...(await storeEnvOf(root)) };
  const config = loadConfig(testEnv(root, extraEnv));
  const service = await startService(config, log, options);
  if (service.store.kind !== TEST_STORE && !explicitStore)
    throw new Error(`IGDM_TEST_STORE=${TEST_STORE}, but the service opened ${service.store.kind}`);
  let stopped = false;
  return {
    ...service,
    dir: root,
    config,
    async post(body, opts = {}) {
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'x-hub-signature-256': sign(text, opts.secret ?? APP_SECRET),
        ...opts.headers,
      };
      for (const [k, v] of Object.entries(headers)) if (v === '') delete headers[k];
      return fetch(`${service.url}${opts.path ?? '/webhooks/meta'}`, { method: 'POST', headers, body: text });
    },
    api(path, init = {}) {
      return fetch(`${service.url}${path}`, {
        ...init,
        headers: { authorization: `Bearer ${API_KEY}`, ...(init.headers as Record<string, string>) },
      });
    },
    async eventCount() {
      const r = await service.store.db
        .selectFrom('webhookEvents')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },
    async settled() {
      let left = '';
      // PostgreSQL's path is a round trip per statement: under a loaded CI it takes longer to drain.
      const budgetMs = service.store.kind === 'postgres' ? 15_000 : 5_000;
      for (const deadline = Date.now() + budgetMs; Date.now() < deadline; ) {
        const r = await service.store.db
          .selectFrom('webhookEvents')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('appliedAt', 'is', null)
          .executeTakeFirstOrThrow();
        // ... and the engine has run every job that is due (delayed ones wait on their own).
        const jobs = await service.store.db
          .selectFrom('jobs')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('queue', '=', 'engine')
          .where((eb) =>
            eb.or([
              eb('status', '=', 'active'),
              eb.and([eb('status', '=', 'ready'), eb('runAt', '<=', Date.now())]),
            ]),
          )
          .executeTakeFirstOrThrow();
        if (Number(r.n) === 0 && Number(jobs.n) === 0) return;
        left = `${r.n} events unapplied, ${jobs.n} engine jobs due or running`;
        await new Promise((res) => setTimeout(res, 10));
      }
      throw new Error(`events were not applied and handled within ${budgetMs / 1000} s: ${left}`);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await service.close();
      if (!dir) {
        rmSync(root, { recursive: true, force: true });
        await PG_BY_DIR.get(root)?.drop();
        PG_BY_DIR.delete(root);
      }
    },
  };
}

/** The store the services of this run use: the `igdm-postgres` project sets IGDM_TEST_STORE (vitest.config.ts). */
export const TEST_STORE: 'sqlite' | 'postgres' =
  process.env.IGDM_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

/**
 * Tests of what only the embedded store has (its file, WAL, triggers, lock, its projector's
 * connection): declared on SQLite; on PostgreSQL not at all (not skipped: the SQLite project runs
 * them, and CI's count of skipped tests stays 0).
 */
export function describeOnSqlite(name: string, tests: () => void): void {
  if (TEST_STORE === 'sqlite') describe(name, tests);
}
export function itOnSqlite(name: string, test: () => Promise<void>, timeout?: number): void {
  if (TEST_STORE === 'sqlite') it(name, test, timeout);
}

/** The service's store, which these tests need to be the embedded one (its file, its connection). */
export function sqliteStoreOf(svc: Pick<Service, 'store'>): SqliteStore {
  if (svc.store.kind !== 'sqlite') throw new Error('this test runs on the embedded store');
  return svc.store;
}

/**
 * IGDM_TEST_STORE=postgres runs the services of these tests on PostgreSQL: a database per data
 * folder (a restart in the same folder finds the same one), dropped when the service that made the
 * folder stops, or at the end of the file (docs/postgres.md lists what fails there).
 */
const PG_BY_DIR = new Map<string, TestDatabase>();

/** Drops the databases of the data folders this file used: after every file (postgres-setup.ts). */
export async function dropFolderDatabases(): Promise<void> {
  for (const db of PG_BY_DIR.values()) await db.drop();
  PG_BY_DIR.clear();
}

/**
 * Where the store of a data folder is, beyond testEnv's SQLite file in it: on PostgreSQL, the
 * folder's database (made on first use) and the folder for the data files.
 */
export async function storeEnvOf(dir: string): Promise<Record<string, string>> {
  if (TEST_STORE === 'sqlite') return {};
  let db = PG_BY_DIR.get(dir);
  if (!db) {
    db = await createTestDatabase();
    PG_BY_DIR.set(dir, db);
  }
  return { DATABASE_URL: db.url, IGDM_DATA_DIR: dir };
}

/** DATABASE_URL of a data folder's store (storeEnvOf), for reading it around igdm (stored.ts). */
export async function databaseUrlOf(dir: string): Promise<string> {
  return (await storeEnvOf(dir)).DATABASE_URL ?? testEnv(dir).DATABASE_URL;
}

let seq = 0;
/** A unique message id. */
export const mid = (prefix = 'mid') => `${prefix}.${process.pid}.${Date.now()}.${++seq}`;

/** An Instagram webhook body with the given messaging items. */
export function igBody(messaging: object[], entryId = ACCOUNT_ID) {
  return { object: 'instagram', entry: [{ id: entryId, time: Date.now(), messaging }] };
}

/** A customer's text message as Meta delivers it. */
export function textEvent(igsid: string, text: string, opts: { mid?: string; timestamp?: number } = {}) {
  return {
    sender: { id: igsid },
    recipient: { id: ACCOUNT_ID },
    timestamp: opts.timestamp ?? Date.now(),
    message: { mid: opts.mid ?? mid(), text },
  };
}

/**
 * A call to the API with a given key (the admin key by default); the answer parsed. The body goes as
 * JSON, or as it is when it is bytes (an upload), with `contentType`.
 */
export async function callApi(
  svc: Pick<Service, 'url'>,
  method: string,
  path: string,
  opts: { key?: string; body?: unknown; contentType?: string } = {},
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
): Promise<{ status: number; headers: Headers; body: any }> {
  const { key = API_KEY, body } = opts;
  const bytes = body instanceof Uint8Array;
  const res = await fetch(`${svc.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined && {
        'content-type': opts.contentType ?? (bytes ? 'application/octet-stream' : 'application/json'),
      }),
    },
    ...(body !== undefined && { body: bytes ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}
