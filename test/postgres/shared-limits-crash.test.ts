import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { OutboxEntry, SandboxServer } from '../../src/sandbox/index.ts';
import { runTestSandbox } from '../send/stack.ts';
import { until } from '../send/support.ts';
import { freePort, killSpawned, spawnIgdm } from '../support/http.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/postgres.ts';
import { callApi, startTestService, type TestService } from '../support/service.ts';

// The rate windows shared on PostgreSQL (docs/postgres.md, "Shared limits") when a process dies
// mid-call: igdm (a child process) has a whole window's sends hanging at the Graph API (a standalone
// sandbox) and is SIGKILLed. Meta may have counted those calls, so their places stay taken until
// they expire (the dead process's Graph timeout and 5 s); then another process on the database
// sends.

const postgres = await postgresAvailable();
const LIMIT = 3;
const CHILD_GRAPH_TIMEOUT_MS = 4000;
/** The child's places in flight expire this long after they were taken. */
const PLACE_EXPIRES_MS = CHILD_GRAPH_TIMEOUT_MS + 5000;

let database: TestDatabase;
let sandbox: SandboxServer;
let port: number;
let survivor: TestService | undefined;
const dirs: string[] = [];
let env: Record<string, string>;

beforeAll(async () => {
  if (!postgres) return;
  database = await createTestDatabase();
  port = await freePort();
  sandbox = await runTestSandbox(port, { sendRatePerSecond: LIMIT, timeoutHoldMs: 60_000 });
  env = {
    DATABASE_URL: database.url,
    IGDM_SECRET_KEY: 'cd'.repeat(32),
    INSTAGRAM_GRAPH_API_URL: sandbox.graphApiUrl,
    IGDM_RATE_SEND_PER_SECOND: String(LIMIT),
    // The killed sends wait for their echo meanwhile, not sent again during the test.
    IGDM_ECHO_GRACE_MS: '120000',
  };
});
afterAll(async () => {
  await killSpawned();
  await sandbox?.state.delivery.settled();
  await survivor?.stop();
  await sandbox?.close();
  await database?.drop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'igdm-shared-limits-crash-'));
  dirs.push(d);
  return d;
};

/** GET `path`, or POST `body` to it, with the admin key. */
const json = (url: string, path: string, body?: unknown) =>
  callApi({ url }, body === undefined ? 'GET' : 'POST', path, { body });

const control = (path: string, body: unknown) =>
  fetch(`${sandbox.url}/sandbox${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

const send = async (url: string, to: string, text: string) => {
  const r = await json(url, '/v1/messages', { to, content: { type: 'text', text } });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body.id as string;
};
const textOf = (e: OutboxEntry) => (e.body as { message?: { text?: string } }).message?.text;

it.skipIf(!postgres)(
  'a process killed with a window’s calls in flight: the others send once their places expire, not before',
  async () => {
    const dir = tempDir();
    const child = await spawnIgdm(dir, port, {
      ...env,
      IGDM_DATA_DIR: dir,
      IGDM_GRAPH_TIMEOUT_MS: String(CHILD_GRAPH_TIMEOUT_MS),
      LOG_LEVEL: 'error',
    });
    const customers: string[] = [];
    for (const n of [1, 2, 3, 4]) {
      const wrote = await control('/messages', { from: `Crash ${n}`, text: 'hello' });
      expect(wrote.body.delivered.status).toBe(200);
      customers.push(wrote.body.igsid);
    }
    await until(
      async () => (await json(child.url, '/v1/conversations')).body.data as unknown[],
      (list) => list.length === customers.length,
      'the child applied the customers’ messages',
    );
    const [late, ...hung] = customers as [string, ...string[]];

    // The child's sends hang at the Graph API: a whole window's places in flight.
    expect((await control('/failures', { kind: 'timeout', count: LIMIT, path: 'messages' })).status).toBe(
      201,
    );
    const queuedAt = Date.now();
    for (const [i, igsid] of hung.entries()) await send(child.url, igsid, `hangs ${i}`);
    await until(
      () => sandbox.state.outbox.list().length,
      (n) => n === LIMIT,
      'the child’s calls hanging at the sandbox',
      CHILD_GRAPH_TIMEOUT_MS - 1000,
    );
    child.child.kill('SIGKILL');
    expect(await child.exited).toMatchObject({ signal: 'SIGKILL' });

    // Another process on the database (on the child's port, where the sandbox delivers).
    const survivorDir = tempDir();
    survivor = await startTestService(
      { ...env, PORT: String(port), IGDM_DATA_DIR: survivorDir },
      survivorDir,
    );
    const id = await send(survivor.url, late, 'after the kill');
    const m = await until(
      async () => (await json(survivor!.url, `/v1/messages/${id}`)).body,
      (m) => m.status === 'sent',
      'the send after the kill',
      PLACE_EXPIRES_MS + 30_000,
    );
    expect(m.status).toBe('sent');
    const arrived = sandbox.state.outbox.list().find((e) => textOf(e) === 'after the kill')!;
    expect(arrived.answer.status).toBe(200);
    // The dead places were taken after the sends were queued, and held until they expired.
    expect(arrived.time - queuedAt).toBeGreaterThanOrEqual(PLACE_EXPIRES_MS);
    // Nothing else went meanwhile: the killed sends wait for their echo (Meta may have them).
    expect(
      sandbox.state.outbox
        .list()
        .filter((e) => e.answer.status === 200)
        .map(textOf),
    ).toEqual(['after the kill']);
  },
  120_000,
);
