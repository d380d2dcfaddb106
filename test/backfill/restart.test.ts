import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSandboxServer, type SandboxServer } from '../../src/sandbox/index.ts';
import { conversationIdOf } from '../../src/store/ids.ts';
import { Clock, until } from '../send/support.ts';
import { runIgdm } from '../support/http.ts';
import { freePort } from '../support/port.ts';
import {
  ACCOUNT_ID,
  API_KEY,
  callApi,
  startTestService,
  TEST_STORE,
  type TestService,
} from '../support/service.ts';

// A real outage: igdm is stopped while the sandbox (on a port of its own, as Meta) keeps customers'
// messages and fails to deliver them. When igdm starts again it catches up by itself, since it last
// heard from Meta; `igdm backfill` asks the running igdm for a run and prints its report; the
// channel shows whether the app's webhook subscription is active.

const SECRET = 'restart-app-secret';
const TOKEN = 'restart-access-token';
const MINUTE = 60_000;

let sandbox: SandboxServer;
let dir: string;
let port: number;
let env: Record<string, string>;
const clock = new Clock();

beforeAll(async () => {
  clock.set(Date.now());
  clock.running();
  dir = mkdtempSync(join(tmpdir(), 'igdm-backfill-'));
  port = await freePort();
  const rules = join(dir, 'automation.yaml');
  writeFileSync(
    rules,
    'rules:\n  - name: hello\n    when: { keyword: [hi, hello] }\n    reply: { type: text, text: "Hello!" }\n',
  );
  sandbox = await runSandboxServer({
    port: 0,
    host: '127.0.0.1',
    webhookUrl: `http://127.0.0.1:${port}/webhooks/meta`,
    appSecret: SECRET,
    accessToken: TOKEN,
    accountId: ACCOUNT_ID,
    now: clock.now,
  });
  env = {
    PORT: String(port),
    META_APP_SECRET: SECRET,
    INSTAGRAM_ACCESS_TOKEN: TOKEN,
    INSTAGRAM_GRAPH_API_URL: sandbox.graphApiUrl,
    IGDM_CONFIG: rules,
    IGDM_BACKFILL_ON_START: 'true',
  };
});
afterAll(async () => {
  await sandbox?.close();
  rmSync(dir, { recursive: true, force: true });
});

const start = () => startTestService(env, dir, { now: clock.now });

async function customer(body: Record<string, unknown>) {
  const res = await fetch(`${sandbox.url}/sandbox/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { igsid: string; mid: string; delivered: { status: number } };
}

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
async function messagesOf(svc: TestService, igsid: string): Promise<any[]> {
  const r = await callApi(svc, 'GET', `/v1/conversations/${conversationIdOf('default', igsid)}/messages`);
  return r.status === 200 ? r.body.data : [];
}

/** The event stream's text, read until it holds `wanted` (or 5 s). */
async function streamUntil(svc: TestService, path: string, wanted: string): Promise<string> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 5000);
  const res = await fetch(`${svc.url}${path}`, {
    headers: { authorization: `Bearer ${API_KEY}` },
    signal: abort.signal,
  });
  let text = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body!) {
      text += decoder.decode(chunk as Uint8Array, { stream: true });
      if (text.includes(wanted)) break;
    }
  } catch {
    // aborted: the text so far
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return text;
}

const repliesTo = (igsid: string) =>
  sandbox.state.outbox.list().filter((e) => e.recipientId === igsid && e.messageId !== null);

describe('catching up at start', () => {
  it('reads back what customers wrote while igdm was stopped, once, and answers none of it', async () => {
    let svc = await start();
    const first = await customer({ from: 'Ada', text: 'hi' });
    expect(first.delivered.status).toBe(200);
    await until(
      async () => repliesTo(first.igsid),
      (r) => r.length === 1,
      'the answer to hi',
    );
    // Its echo delivered and applied before igdm stops.
    await sandbox.state.delivery.settled();
    await svc.settled();
    await svc.stop();

    // igdm is down: the sandbox cannot deliver.
    const missed = await customer({ from: first.igsid, text: 'hello? still there?' });
    expect(missed.delivered.status).toBe(0);
    const other = await customer({ from: 'Grace', text: 'hi' });
    expect(other.delivered.status).toBe(0);
    clock.advance(30 * MINUTE);

    svc = await start();
    try {
      const thread = await until(
        () => messagesOf(svc, first.igsid),
        (m) => m.length === 3,
        'the missed message, read back at start',
      );
      expect(thread.find((m) => m.mid === missed.mid)).toMatchObject({
        text: 'hello? still there?',
        backfilled: true,
        direction: 'inbound',
      });
      const grace = await until(
        () => messagesOf(svc, other.igsid),
        (m) => m.length === 1,
        "Grace's message",
      );
      expect(grace[0]).toMatchObject({ mid: other.mid, backfilled: true });
      await svc.settled();
      expect(repliesTo(first.igsid)).toHaveLength(1);
      expect(repliesTo(other.igsid)).toHaveLength(0);

      // The sandbox's app was never subscribed to the account's webhooks: the channel says so.
      const channel = await callApi(svc, 'GET', '/v1/channels/default');
      expect(channel.body.webhookSubscription).toMatchObject({ state: 'inactive', fields: [] });
      const health = await streamUntil(
        svc,
        '/v1/events?types=channel.health&after=0',
        '"webhookSubscription"',
      );
      expect(health).toContain('"webhookSubscription":{"state":"inactive"');

      // Subscribed now; `igdm backfill` reports a run with nothing left to recover.
      sandbox.state.subscribedFields = ['messages', 'messaging_postbacks'];
      const run = await runIgdm(dir, ['backfill', '--since', '2h'], env);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('channel default: since');
      expect(run.stdout).toContain('2 conversation(s) checked, 0 message(s) recovered');
      expect(run.stdout).toContain('webhook subscription: active');
      const after = await callApi(svc, 'GET', '/v1/channels/default');
      expect(after.body.webhookSubscription).toMatchObject({ state: 'active' });
      expect(await messagesOf(svc, first.igsid)).toHaveLength(3);
    } finally {
      await svc.stop();
    }

    // The flag is the event's: a rebuild from the event log keeps it (`igdm replay` rebuilds the
    // embedded store only).
    if (TEST_STORE === 'postgres') return;
    const replayed = await runIgdm(dir, ['replay'], { ...env, IGDM_BACKFILL_ON_START: 'false' });
    expect(replayed.code, replayed.stderr).toBe(0);
    svc = await startTestService({ ...env, IGDM_BACKFILL_ON_START: 'false' }, dir, { now: clock.now });
    try {
      const rebuilt = await messagesOf(svc, first.igsid);
      expect(rebuilt.map((m) => [m.text, m.backfilled]).sort()).toEqual([
        ['Hello!', false],
        ['hello? still there?', true],
        ['hi', false],
      ]);
    } finally {
      await svc.stop();
    }
  });

  it('igdm backfill refuses a time it cannot read, and says when igdm is not running', async () => {
    const run = await runIgdm(dir, ['backfill', '--since', 'yesterday-ish'], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('give --since as an ISO time');
    // igdm is not running (its port is closed): said so, with what to do.
    const down = await runIgdm(dir, ['backfill', '--since', '1h'], env);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`igdm is not answering at http://127.0.0.1:${port}`);
  });
});
