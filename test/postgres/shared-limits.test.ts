import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { OutboxEntry, SandboxServer } from '../../src/sandbox/index.ts';
import { runTestSandbox } from '../send/stack.ts';
import { sleep, until } from '../send/support.ts';
import { freePort } from '../support/http.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/postgres.ts';
import { callApi, startTestService, type TestService } from '../support/service.ts';

// Several igdm processes on one PostgreSQL database send for the same account, and Meta's limits
// hold across them (docs/postgres.md, "Shared limits"): two services in this process (each its own
// pool, sender, queue workers and LISTEN connections), with the same low send limit, against one
// standalone sandbox, which refuses calls over that limit as Meta does and records when each
// arrived. A process killed mid-call: shared-limits-crash.test.ts.

const postgres = await postgresAvailable();
const LIMIT = 4;

let database: TestDatabase;
let sandbox: SandboxServer;
let a: TestService;
let b: TestService;
const dirs: string[] = [];
let env: Record<string, string>;

beforeAll(async () => {
  if (!postgres) return;
  database = await createTestDatabase();
  const port = await freePort();
  // Webhooks go to a; both read them from the database. An injected timeout hangs for a minute.
  sandbox = await runTestSandbox(port, { sendRatePerSecond: LIMIT, timeoutHoldMs: 60_000 });
  env = {
    DATABASE_URL: database.url,
    IGDM_SECRET_KEY: 'ab'.repeat(32),
    INSTAGRAM_GRAPH_API_URL: sandbox.graphApiUrl,
    IGDM_RATE_SEND_PER_SECOND: String(LIMIT),
    IGDM_ECHO_GRACE_MS: '60000',
    // Neither process can take every customer's sends at once: both send.
    IGDM_SEND_CONCURRENCY: '3',
  };
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), 'igdm-shared-limits-'));
    dirs.push(d);
    return d;
  };
  const dirA = dir();
  a = await startTestService({ ...env, PORT: String(port), IGDM_DATA_DIR: dirA }, dirA);
  const dirB = dir();
  b = await startTestService({ ...env, IGDM_DATA_DIR: dirB }, dirB);
}, 60_000);
afterAll(async () => {
  await sandbox?.state.delivery.settled();
  await a?.stop();
  await b?.stop();
  await sandbox?.close();
  await database?.drop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A simulated customer writes (the webhook goes to a); resolves once both services see the conversation. */
async function customer(name: string): Promise<string> {
  const res = await fetch(`${sandbox.url}/sandbox/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ from: name, text: 'hello' }),
  });
  const { igsid } = (await res.json()) as { igsid: string };
  await until(
    async () => (await json(b, '/v1/conversations')).body.data as { igsid: string }[],
    (list) => list.some((c) => c.igsid === igsid),
    `${name}'s conversation`,
    15_000,
  );
  return igsid;
}

/** GET `path`, or POST `body` to it, with the admin key. */
const json = (svc: { url: string }, path: string, body?: unknown) =>
  callApi(svc, body === undefined ? 'GET' : 'POST', path, { body });

const send = async (svc: { url: string }, to: string, text: string) => {
  const r = await json(svc, '/v1/messages', { to, content: { type: 'text', text } });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  return r.body.id as string;
};

const outbox = async (): Promise<readonly OutboxEntry[]> => sandbox.state.outbox.list();
const textOf = (e: OutboxEntry) => (e.body as { message?: { text?: string } }).message?.text;

/** The most calls any window [t, t + 1 s) holds, t being each call's arrival. */
function busiestSecond(times: number[]) {
  const sorted = [...times].sort((x, y) => x - y);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (j < sorted.length && sorted[j]! < sorted[i]! + 1000) j++;
    most = Math.max(most, j - i);
  }
  return most;
}

it.skipIf(!postgres)(
  `two processes sending to one account: every send goes once, none refused, at most ${LIMIT} in any second`,
  async () => {
    const customers = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => customer(`Shared ${n}`)));
    const before = (await outbox()).length;
    // Half through each process; each process's workers take jobs whoever queued them.
    const ids: string[] = [];
    const texts: string[] = [];
    await Promise.all(
      customers.flatMap((igsid, c) =>
        [0, 1, 2, 3].map(async (i) => {
          const text = `burst ${c}.${i}`;
          texts.push(text);
          ids.push(await send((c + i) % 2 ? a : b, igsid, text));
        }),
      ),
    );
    await until(
      async () => (await outbox()).length - before,
      (n) => n >= texts.length,
      'every send at the sandbox',
      60_000,
    );
    for (const id of ids) {
      const m = await until(
        async () => (await json(a, `/v1/messages/${id}`)).body,
        (m) => m.status === 'sent',
        `message ${id} sent`,
      );
      expect(m.status).toBe('sent');
    }
    const calls = (await outbox()).slice(before);
    expect(calls.map((c) => c.answer.status).filter((s) => s !== 200)).toEqual([]); // none refused for rate
    expect(calls.map(textOf).sort()).toEqual([...texts].sort()); // each once
    const times = calls.map((c) => c.time);
    expect(busiestSecond(times), `arrivals: ${times.map((t) => t - times[0]!)}`).toBeLessThanOrEqual(LIMIT);
  },
  120_000,
);

it.skipIf(!postgres)(
  'a throttle Meta imposes on one process holds the other’s sends too',
  async () => {
    const [first, second] = await Promise.all([customer('Throttled 1'), customer('Throttled 2')]);
    const r = await fetch(`${sandbox.url}/sandbox/failures`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'throttle', count: 1, path: 'messages' }),
    });
    expect(r.status).toBe(201);
    // Whichever process sends it meets the throttle (a minute); both then show the channel throttled.
    const throttledId = await send(a, first, 'meets the throttle');
    for (const svc of [a, b])
      await until(
        async () => (await json(svc, '/v1/channels/default')).body.status,
        (s) => s === 'throttled',
        'the channel throttled',
        10_000,
      );
    const held = await send(b, second, 'held by the throttle');
    await sleep(2000);
    expect((await outbox()).filter((e) => textOf(e) === 'held by the throttle')).toEqual([]);
    for (const id of [throttledId, held])
      expect((await json(b, `/v1/messages/${id}`)).body.status).toBe('queued');
  },
  60_000,
);
