import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxServer } from '../../src/sandbox/index.ts';
import { messagingItem } from '../../src/sandbox/wire.ts';
import { runTestSandbox, TOKEN } from '../send/stack.ts';
import { sleep, until } from '../send/support.ts';
import { freePort, type IgdmProcess, killSpawned, spawnIgdm } from '../support/http.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/postgres.ts';
import { README_CONFIG } from '../support/readme.ts';
import { ACCOUNT_ID } from '../support/service.ts';
import { call, deliver, follow, leads } from './processes.ts';

// igdm as a deployment on one PostgreSQL database: two `web` and two `worker` processes (real
// children: `igdm start --role …`), the Graph API a standalone sandbox in this process, the README's
// automation file (it answers "seq N" with "ack seq N"), an outbound webhook endpoint. Customers'
// webhooks are signed here and spread over both web processes; the worker that leads (runs the
// dispatcher) is SIGKILLed while the replies go out. Every inbound must be answered exactly once, in
// order per conversation, and reach the endpoint once; the other worker takes the lead. Then what one process changes must
// reach the others: a channel's token set through web A used by the workers (and the health their
// sender stored shown by web B), an API key revoked through web A refused by web B.

const available = await postgresAvailable();

const CUSTOMERS = 20;
const SEQS = 6;
/** SIGKILL a worker when the sandbox has answered this many acks (of CUSTOMERS × SEQS). */
const KILL_AT = 40;
const SECRET_KEY = 'a1'.repeat(32);

let db: TestDatabase;
let dir: string;
let sandbox: SandboxServer;
const procs: Record<'webA' | 'webB' | 'worker1' | 'worker2', IgdmProcess> = {} as never;

/**
 * The outbound webhook endpoint's receiver: each request's webhook-id (the event's id) and body. It
 * answers after a second, so that deliveries are still going out when a worker is killed: answered
 * at once, they all arrived before the replies on a slow host, and the kill tested nothing of them.
 */
let receiver: Server;
const received: { webhookId: string; event: string }[] = [];

async function start(role: 'web' | 'worker', name: string, port: number, env: Record<string, string>) {
  return spawnIgdm(
    join(dir, name),
    port,
    { ...env, IGDM_DATA_DIR: join(dir, name) },
    { args: ['--role', role], readyMs: 60_000 },
  );
}

beforeAll(async () => {
  if (!available) return;
  db = await createTestDatabase();
  dir = mkdtempSync(join(tmpdir(), 'igdm-multi-'));
  const [portA, portB, port1, port2] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  // The sandbox's own webhooks (the echoes of igdm's sends) go to web A.
  sandbox = await runTestSandbox(portA!, { echoDelayMs: 0 });
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ webhookId: String(req.headers['webhook-id']), event: JSON.parse(body).event });
      setTimeout(() => res.end('ok'), 1000);
    });
  });
  receiver.listen(0, '127.0.0.1');
  await new Promise((r) => receiver.once('listening', r));
  const config = join(dir, 'automation.yaml');
  writeFileSync(config, README_CONFIG);
  const env = {
    DATABASE_URL: db.url,
    IGDM_SECRET_KEY: SECRET_KEY,
    INSTAGRAM_GRAPH_API_URL: sandbox.graphApiUrl,
    IGDM_CONFIG: config,
    // The README's file names the OpenAI provider; every message here matches a rule.
    OPENAI_API_KEY: 'unused',
    OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
    // A send cut by the kill waits this long for its echo before it is looked up and sent again.
    IGDM_ECHO_GRACE_MS: '5000',
    LOG_LEVEL: 'warn',
  };
  // Web A first: it migrates the database (the others would wait on the migration lock).
  procs.webA = await start('web', 'webA', portA!, env);
  [procs.webB, procs.worker1, procs.worker2] = await Promise.all([
    start('web', 'webB', portB!, env),
    start('worker', 'worker1', port1!, env),
    start('worker', 'worker2', port2!, env),
  ]);
}, 120_000);

afterAll(async () => {
  await killSpawned();
  await sandbox?.close();
  receiver?.closeAllConnections();
  receiver?.close();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const text = (body: unknown) => (body as { message?: { text?: string } }).message?.text;
const acks = () =>
  sandbox.state.outbox.list().filter((e) => e.answer.status === 200 && text(e.body)?.startsWith('ack '));

describe.skipIf(!available)('two web and two worker processes on one database', () => {
  it('every role answers /healthz, /readyz and /metrics; a worker serves nothing else', async () => {
    for (const [name, p] of Object.entries(procs)) {
      const healthz = await fetch(`${p.url}/healthz`);
      expect(healthz.status, name).toBe(200);
      const readyz = await fetch(`${p.url}/readyz`);
      expect(readyz.status, name).toBe(200);
      const ready = (await readyz.json()) as Record<string, unknown>;
      expect(ready, name).toMatchObject({ status: 'ready', store: { ok: true }, disk: { ok: true } });
      // A web process applies what it stores, but its readiness is storing them: a backlog must not
      // take every web process out of the load balancer. The workers report applying (the fallback).
      if (name.startsWith('web')) {
        expect(ready, name).toMatchObject({ ingest: { ok: true } });
        expect(ready.apply, name).toBeUndefined();
      } else expect(ready, name).toMatchObject({ queue: { ok: true }, apply: { ok: true } });
      const metrics = await fetch(`${p.url}/metrics`);
      expect(metrics.status, name).toBe(200);
      expect(await metrics.text(), name).toContain('# TYPE');
    }
    for (const p of [procs.worker1, procs.worker2]) {
      const api = await call(p, '/v1/conversations');
      expect(api.status).toBe(404);
      expect(api.body).toMatchObject({ error: { code: 'not_found' } });
      const webhook = await fetch(`${p.url}/webhooks/meta`, { method: 'POST', body: '{}' });
      expect(webhook.status).toBe(404);
    }
    expect((await call(procs.webB, '/v1/conversations')).status).toBe(200);
  });

  it(`${CUSTOMERS} conversations × ${SEQS} messages over both web processes, a worker SIGKILLed: each answered once, in order`, async () => {
    const igsids = Array.from({ length: CUSTOMERS }, (_, i) => {
      const c = sandbox.state.customers.resolve(`Multi Customer ${i}`);
      sandbox.state.customers.wrote(c, Date.now());
      return c.igsid;
    });
    const endpoint = await call(procs.webB, '/v1/webhook-endpoints', {
      method: 'POST',
      body: JSON.stringify({
        url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
        events: ['message.received'],
      }),
    });
    expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
    // One leader among the workers.
    const leader = await until(
      async () => [await leads(procs.worker1), await leads(procs.worker2)],
      (l) => l.filter(Boolean).length === 1,
      'one leader',
      10_000,
    );
    const [dying, surviving] = leader[0] ? [procs.worker1, procs.worker2] : [procs.worker2, procs.worker1];
    // Web B's event stream: the sends the workers record reach it.
    const stream = await follow(procs.webB, 'message.sent');
    const base = Date.now() - 60_000;
    const webs = [procs.webA, procs.webB];
    // One round: each customer's message `seq`, in bodies of two customers, alternately to web A and B.
    const round = (seq: number) => {
      const items = igsids.map((igsid, c) =>
        messagingItem(igsid, ACCOUNT_ID, base + seq * 1000 + c, {
          message: { mid: `aWdfZAG1faXRlbTptdWx0aTo${seq}x${c}x${base}`, text: `seq ${seq}` },
        }),
      );
      const bodies = [];
      for (let i = 0; i < items.length; i += 2)
        bodies.push({
          object: 'instagram',
          entry: [{ id: ACCOUNT_ID, time: Date.now(), messaging: items.slice(i, i + 2) }],
        });
      return Promise.all(bodies.map((b, i) => deliver(webs[(i + seq) % 2]!, b)));
    };
    const customers = (async () => {
      for (let seq = 1; seq <= SEQS; seq++) {
        await round(seq);
        await sleep(100);
      }
    })();

    await until(
      () => acks().length,
      (n) => n >= KILL_AT,
      `${KILL_AT} acks before the kill`,
      60_000,
    );
    // What is running at the kill (both workers' jobs): each must end done, whoever held it.
    const active = await call(procs.webA, '/v1/jobs?status=active&limit=100');
    const activeAtKill = (active.body.data as { id: number }[]).map((j) => j.id);
    dying.child.kill('SIGKILL');
    expect(await dying.exited).toMatchObject({ signal: 'SIGKILL' });
    const ackedAtKill = acks().length;
    const deliveredAtKill = received.length;
    await customers;

    const total = CUSTOMERS * SEQS;
    await until(
      () => acks().length,
      (n) => n >= total,
      `${total} acks`,
      90_000,
    ).catch((err: Error) => {
      err.message += `\n${surviving.output()}\n${procs.webA.output()}`;
      throw err;
    });
    // Past the echo grace: a send cut by the kill and not settled by its echo would have gone again.
    await sleep(6000);
    await until(
      async () => (await call(procs.webB, '/v1/jobs?limit=1')).body.counts,
      (c) => c.ready === 0 && c.active === 0,
      'the queue empty',
      30_000,
    );

    const sent = acks();
    for (const [c, igsid] of igsids.entries()) {
      const texts = sent.filter((e) => e.recipientId === igsid).map((e) => text(e.body));
      expect(texts, `acks to customer ${c}`).toEqual(
        Array.from({ length: SEQS }, (_, i) => `ack seq ${i + 1}`),
      );
    }
    expect(sent).toHaveLength(total);
    expect(ackedAtKill).toBeLessThan(total); // the kill came while replies were going out

    const { counts } = (await call(procs.webA, '/v1/jobs?limit=1')).body;
    expect(counts).toMatchObject({ dead: 0, ready: 0, active: 0 });
    for (const id of activeAtKill) {
      const job = await call(procs.webB, `/v1/jobs/${id}`);
      expect(job.body.status, `job ${id}, active at the kill`).toBe('done');
    }
    const conversations = (await call(procs.webB, '/v1/conversations?limit=100')).body.data as {
      threadOwner: string;
    }[];
    expect(conversations).toHaveLength(CUSTOMERS);
    expect(conversations.filter((c) => c.threadOwner !== 'bot')).toEqual([]);
    // Every send the workers recorded reached web B's stream, once each.
    await until(
      () => stream.ids.length,
      (n) => n >= total,
      `${total} message.sent events on web B's stream`,
      30_000,
    );
    stream.close();
    expect(new Set(stream.ids).size).toBe(stream.ids.length);

    // The other worker leads now, and its dispatcher made each customer message's delivery once.
    expect(await leads(surviving)).toBe(true);
    await until(
      () => received.length,
      (n) => n >= total,
      `${total} deliveries to the endpoint`,
      30_000,
    );
    await sleep(1000);
    // Each event once at the endpoint: a delivery interrupted by the kill may be sent again (with
    // its webhook-id), but no event got two deliveries (two dispatchers at once would make them).
    expect(new Set(received.map((r) => r.webhookId)).size).toBe(total);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const made = await client
      .query(
        'select event_id, count(*)::int as n from webhook_deliveries where endpoint_id = $1 group by event_id',
        [endpoint.body.id],
      )
      .finally(() => client.end());
    expect(made.rows).toHaveLength(total);
    expect(made.rows.filter((r) => r.n !== 1)).toEqual([]);
    expect(received.every((r) => r.event === 'message.received')).toBe(true);
    expect(deliveredAtKill).toBeLessThan(total);
    console.log(
      JSON.stringify({
        activeAtKill: activeAtKill.length,
        ackedAtKill,
        deliveredAtKill,
        calls: sandbox.state.outbox.list().length,
      }),
    );
  }, 240_000);

  it('a token set through web A is the one the workers send with; the health their sender stored shows on web B', async () => {
    const customer = sandbox.state.customers.resolve('Token Customer');
    sandbox.state.customers.wrote(customer, Date.now());
    const say = (n: number) =>
      deliver(procs.webB, {
        object: 'instagram',
        entry: [
          {
            id: ACCOUNT_ID,
            time: Date.now(),
            messaging: [
              messagingItem(customer.igsid, ACCOUNT_ID, Date.now(), {
                message: { mid: `aWdfZAG1faXRlbTp0b2tlbjo${n}x${Date.now()}`, text: `seq ${n}` },
              }),
            ],
          },
        ],
      });
    const acksTo = () => acks().filter((e) => e.recipientId === customer.igsid);

    // A token Meta does not know, set through web A: the worker's send is refused with it.
    const patched = await call(procs.webA, '/v1/channels/default', {
      method: 'PATCH',
      body: JSON.stringify({ accessToken: 'a-token-meta-refuses' }),
    });
    expect(patched.status).toBe(200);
    await say(1);
    const seen = await until(
      async () => (await call(procs.webB, '/v1/channels/default')).body,
      (c) => c.status === 'needs_token',
      'web B showing the health the worker stored',
      30_000,
    );
    expect(seen.status).toBe('needs_token');
    expect(acksTo()).toHaveLength(0);

    // The right token, set through web B: the held send goes, with it.
    expect(
      (
        await call(procs.webB, '/v1/channels/default', {
          method: 'PATCH',
          body: JSON.stringify({ accessToken: TOKEN }),
        })
      ).status,
    ).toBe(200);
    await until(
      () => acksTo().map((e) => text(e.body)),
      (t) => t.length >= 1,
      'the held reply sent with the new token',
      30_000,
    );
    expect(acksTo().map((e) => text(e.body))).toEqual(['ack seq 1']);
    await until(
      async () => (await call(procs.webA, '/v1/channels/default')).body.status,
      (h) => h === 'ok',
      'web A showing the channel ok again',
      30_000,
    );
  }, 90_000);

  it('an API key made through web A works on web B; revoked through web A, web B refuses it', async () => {
    const made = await call(procs.webA, '/v1/api-keys', {
      method: 'POST',
      body: JSON.stringify({ name: 'multi-process' }),
    });
    expect(made.status).toBe(201);
    const { id, key } = made.body as { id: string; key: string };
    await until(
      async () => (await call(procs.webB, '/v1/conversations', { key })).status,
      (s) => s === 200,
      'web B taking the new key',
      10_000,
    );
    const revoking = performance.now();
    expect((await call(procs.webA, `/v1/api-keys/${id}`, { method: 'DELETE' })).status).toBe(204);
    const refused = await until(
      async () => (await call(procs.webB, '/v1/conversations', { key })).status,
      (s) => s === 401,
      'web B refusing the revoked key',
      10_000,
    );
    expect(refused).toBe(401);
    // From the revocation's request on web A to web B refusing the key (the notice and one read).
    console.log(JSON.stringify({ revokedOnWebBAfterMs: Math.round(performance.now() - revoking) }));
    expect((await call(procs.webA, '/v1/conversations', { key })).status).toBe(401);
  });

  it('refuses a role on the embedded store, naming the fix', async () => {
    const { runCommand } = await import('../support/http.ts');
    const run = await runCommand(['start', '--role', 'worker'], {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: `sqlite:${join(dir, 'embedded.sqlite')}`,
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('IGDM_ROLE=worker needs PostgreSQL');
    expect(run.stderr).toContain('DATABASE_URL=postgres://');
  });
});
