import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DeliveryKind, DeliveryResult } from '../../../src/sandbox/delivery.ts';
import type { SandboxServer } from '../../../src/sandbox/index.ts';
import { messagingItem } from '../../../src/sandbox/wire.ts';
import { runTestSandbox } from '../../send/stack.ts';
import { sleep, until } from '../../send/support.ts';
import { freePort, type IgdmProcess, killSpawned, spawnIgdm } from '../../support/http.ts';
import { ACCOUNT_ID, API_KEY } from '../../support/service.ts';
import { README_CONFIG } from './support.ts';

// Every inbound message answered exactly once across SIGKILLs: igdm (a child process with the
// README's automation file; the Graph API is a standalone sandbox in this process) gets a stream of
// "seq N" messages from many customers and is killed with SIGKILL twice while it is producing the
// acks, then restarted on the same data directory. Each kill comes while a send is ambiguous: the
// sandbox has accepted it (the customer has the ack), but the answer, held back by a proxy between
// igdm and the sandbox, has not reached igdm. Webhooks that igdm did not take while it was down
// (customer messages and the echoes of its sends) are delivered again after the restart, as Meta
// does. The sandbox's Send API must have received exactly one "ack seq N" per message: none missing,
// none twice, and each customer's in order.

const CUSTOMERS = 30;
const SEQS = 8;
/** Kill when the sandbox has answered this many acks (of CUSTOMERS × SEQS). */
const KILL_AT = [50, 140];
const ECHO_GRACE_MS = 8000;

let dir: string;
let port: number;
let sandbox: SandboxServer;
let proxy: GraphProxy;
let env: Record<string, string>;

/**
 * Between igdm and the sandbox's Graph API: passes every call on, and holds the sandbox's answers
 * to sends for `holdMs` before passing them back (`held` counts the accepted sends held right now).
 */
interface GraphProxy {
  url: string;
  held: number;
  close(): Promise<void>;
}

async function graphProxy(target: string, holdMs: number): Promise<GraphProxy> {
  const state = { held: 0 };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (typeof v === 'string' && !['host', 'connection', 'content-length'].includes(k)) headers[k] = v;
    try {
      const answer = await fetch(`${target}${req.url}`, {
        method: req.method ?? 'GET',
        headers,
        ...(chunks.length > 0 && { body: Buffer.concat(chunks) }),
      });
      const body = Buffer.from(await answer.arrayBuffer());
      if (req.method === 'POST' && req.url?.split('?')[0]?.endsWith('/messages') && answer.status === 200) {
        state.held++;
        await sleep(holdMs);
        state.held--;
      }
      if (res.destroyed) return;
      // Meta's headers (usage, throttling) pass on; the connection's own do not.
      const back: Record<string, string> = {};
      for (const [k, v] of answer.headers)
        if (
          !['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding'].includes(k)
        )
          back[k] = v;
      res.writeHead(answer.status, back);
      res.end(body);
    } catch {
      res.destroy();
    }
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get held() {
      return state.held;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'igdm-engine-crash-'));
  port = await freePort();
  sandbox = await runTestSandbox(port, {
    // The echo comes after the (held) answer would have: a kill during the hold loses it, and it is
    // delivered again after the restart.
    echoDelayMs: 40,
  });
  proxy = await graphProxy(sandbox.url, 25);
  const config = join(dir, 'automation.yaml');
  writeFileSync(config, README_CONFIG);
  env = {
    INSTAGRAM_GRAPH_API_URL: `${proxy.url}/sandbox/graph`,
    IGDM_CONFIG: config,
    // The README's file names the OpenAI provider; every message here matches a rule.
    OPENAI_API_KEY: 'unused',
    OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
    // A send cut by the kill waits this long for its echo; then igdm asks the Conversations API
    // before it sends again (that path: test/send/reconcile.test.ts). The grace counts from the
    // sender's start, before igdm takes webhooks again (/readyz: 2 to 5 s on a busy machine); 8 s
    // keeps this test on the echo path.
    IGDM_ECHO_GRACE_MS: String(ECHO_GRACE_MS),
    LOG_LEVEL: 'info', // printed when the test fails
  };
});
afterAll(async () => {
  await killSpawned();
  await proxy?.close();
  await sandbox?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
async function api(igdm: IgdmProcess, path: string): Promise<any> {
  const res = await fetch(`${igdm.url}${path}`, { headers: { authorization: `Bearer ${API_KEY}` } });
  expect(res.status).toBe(200);
  return res.json();
}

type Body = ReturnType<typeof bodyOf>;
const bodyOf = (items: ReturnType<typeof messagingItem>[]) => ({
  object: 'instagram',
  entry: [{ id: ACCOUNT_ID, time: Date.now(), messaging: items }],
});

const text = (body: unknown) => (body as { message?: { text?: string } }).message?.text;

it(`${CUSTOMERS} customers × ${SEQS} messages, igdm SIGKILLed twice while replying: each answered exactly once`, async () => {
  // Webhooks igdm did not answer 200 (it was down, or died mid-request): Meta delivers them again.
  const undelivered: { kind: DeliveryKind; body: unknown }[] = [];
  const refused: (DeliveryResult & { up: boolean })[] = []; // with whether igdm was meant to be up
  const delivery = sandbox.state.delivery;
  const deliver = delivery.deliver.bind(delivery);
  delivery.deliver = async (kind: DeliveryKind, body: unknown): Promise<DeliveryResult> => {
    const r = await deliver(kind, body);
    if (r.status !== 200) {
      undelivered.push({ kind, body });
      refused.push({ ...r, up });
    }
    return r;
  };

  const igsids = Array.from({ length: CUSTOMERS }, (_, i) => {
    const c = sandbox.state.customers.resolve(`Crash Customer ${i}`);
    sandbox.state.customers.wrote(c, Date.now());
    return c.igsid;
  });
  const base = Date.now() - 60_000;
  const round = (seq: number): Body[] => {
    const items = igsids.map((igsid, c) =>
      messagingItem(igsid, ACCOUNT_ID, base + seq * 1000 + c, {
        message: { mid: `aWdfZAG1faXRlbTpjcmFzaDo${seq}x${c}x${base}`, text: `seq ${seq}` },
      }),
    );
    const bodies: Body[] = [];
    for (let i = 0; i < items.length; i += 4) bodies.push(bodyOf(items.slice(i, i + 4)));
    return bodies;
  };
  const acks = () =>
    sandbox.state.outbox.list().filter((e) => e.answer.status === 200 && text(e.body)?.startsWith('ack '));

  let igdm = await spawnIgdm(dir, port, env);
  const outputs: string[] = [];
  let up = true;
  let resumed: (() => void) | null = null;
  let inRound: Promise<unknown> = Promise.resolve();

  // The stream: one round of messages at a time (each customer's next message after the previous
  // one was delivered), waiting while igdm is down and the missed webhooks are delivered again.
  const stream = (async () => {
    for (let seq = 1; seq <= SEQS; seq++) {
      if (!up) await new Promise<void>((r) => (resumed = r));
      inRound = Promise.all(round(seq).map((b) => delivery.deliver('customer', b)));
      await inRound;
      await sleep(80);
    }
  })();

  const kills: {
    at: number;
    acks: number;
    ambiguous: number;
    undelivered: number;
    echoes?: number;
    readyMs?: number;
    redeliveredMs?: number;
  }[] = [];
  for (const threshold of KILL_AT) {
    await until(
      () => acks().length,
      (n) => n >= threshold,
      `${threshold} acks before the kill`,
      20_000,
    );
    // While the sandbox has accepted a send whose answer igdm has not got.
    await until(
      () => proxy.held,
      (n) => n > 0,
      'a send accepted and its answer held',
      10_000,
    );
    const ambiguous = proxy.held;
    up = false;
    igdm.child.kill('SIGKILL');
    expect(await igdm.exited).toMatchObject({ signal: 'SIGKILL' });
    outputs.push(igdm.output());
    await inRound.catch(() => {});
    await delivery.settled();
    kills.push({ at: threshold, acks: acks().length, ambiguous, undelivered: undelivered.length });

    const restarting = Date.now();
    igdm = await spawnIgdm(dir, port, env);
    const readyMs = Date.now() - restarting;
    // What igdm missed, again: the echoes at once (within the echo grace: a send still unsettled by
    // then is sent again), then the customers' messages in the order they were first sent.
    const missed = undelivered.splice(0);
    const echoes = await Promise.all(
      missed.filter((w) => w.kind === 'echo').map((w) => deliver(w.kind, w.body)),
    );
    for (const r of echoes) expect(r.status, JSON.stringify(r)).toBe(200);
    for (const w of missed.filter((w) => w.kind !== 'echo')) {
      const r = await deliver(w.kind, w.body);
      expect(r.status, JSON.stringify(r)).toBe(200);
    }
    Object.assign(kills.at(-1)!, { echoes: echoes.length, readyMs, redeliveredMs: Date.now() - restarting });
    up = true;
    (resumed as (() => void) | null)?.();
  }
  await stream;

  const total = CUSTOMERS * SEQS;
  await until(
    async () => {
      // Refused while igdm was up (none expected): Meta retries a webhook until it is acknowledged.
      for (const w of undelivered.splice(0)) await delivery.deliver(w.kind, w.body);
      return acks().length;
    },
    (n) => n >= total,
    `${total} acks`,
    60_000,
  ).catch(async (err: Error) => {
    const perCustomer = igsids.map((igsid) => acks().filter((e) => e.recipientId === igsid).length);
    const jobs = await api(igdm, '/v1/jobs?limit=1').catch((e: Error) => e.message);
    err.message += `\n${JSON.stringify({ kills, perCustomer, refused: refused.slice(-20), jobs: jobs.counts ?? jobs, undelivered: undelivered.length })}\n${outputs.join('\n----\n')}${igdm.output()}`;
    throw err;
  });
  // Every job done: a send cut by a kill waits (its job ready, put off) for its echo or the echo
  // grace, so that no job is left means each such send was settled, or went again (which the
  // counts below would show). Then what igdm missed late (none expected: it is up), and it settles.
  const allDone = () =>
    until(
      async () => (await api(igdm, '/v1/jobs?limit=1')).counts,
      (c) => c.ready === 0 && c.active === 0,
      'the engine and the sender done',
      ECHO_GRACE_MS + 15_000,
    );
  await allDone();
  await delivery.settled();
  for (const w of undelivered.splice(0)) await deliver(w.kind, w.body);
  await allDone();

  const sent = acks();
  if (process.env['CRASH_DEBUG']) {
    process.stderr.write(`data dir: ${dir}\n${outputs.join('\n----\n')}${igdm.output()}\n`);
    dir = '';
  }
  for (const [c, igsid] of igsids.entries()) {
    const texts = sent.filter((e) => e.recipientId === igsid).map((e) => text(e.body));
    expect(texts, `acks to customer ${c}`).toEqual(
      Array.from({ length: SEQS }, (_, i) => `ack seq ${i + 1}`),
    );
  }
  expect(sent).toHaveLength(total);
  expect(kills.every((k) => k.acks < total)).toBe(true); // the kills came while replies were going out
  expect(kills.every((k) => k.ambiguous > 0 && k.echoes! > 0)).toBe(true);

  // No echo of igdm's own sends was taken for a person typing in the Instagram app (which would hand
  // the conversation to a human and silence the bot).
  const conversations = (await api(igdm, '/v1/conversations?limit=100')).data as { threadOwner: string }[];
  expect(conversations).toHaveLength(CUSTOMERS);
  expect(conversations.filter((c) => c.threadOwner !== 'bot')).toEqual([]);

  // No dead letters; every send settled.
  const { counts } = await api(igdm, '/v1/jobs?limit=1');
  expect(counts).toMatchObject({ dead: 0, ready: 0, active: 0 });
  console.log(
    JSON.stringify({
      kills,
      counts,
      calls: sandbox.state.outbox.list().length,
      refusedWhileUp: refused.filter((r) => r.up),
    }),
  );
}, 120_000); // two restarts and an echo grace: ~20 s alone, longer on a loaded 2-core machine
