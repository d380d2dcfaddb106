import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { OutboxEntry } from '../../../src/sandbox/index.ts';
import { messagingItem, messagingWebhook } from '../../../src/sandbox/wire.ts';
import { conversationIdOf } from '../../../src/store/ids.ts';
import {
  type Clock,
  delivered,
  type SandboxService,
  sleep,
  startSandboxService,
  until,
} from '../../send/support.ts';

// igdm in sandbox mode with an automation file: the engine's tests talk to it only through the
// sandbox's simulated customers, the HTTP API and the sandbox's record of Send API calls.

export { README_CONFIG } from '../../support/readme.ts';

/** Variables the AI providers read (from process.env, as in production), not the service config. */
const AI_ENV = /^(OPENAI|ANTHROPIC)_/;

/** Writes the automation file and starts the service with it. */
export async function startWithConfig(
  config: string,
  opts: { env?: Record<string, string>; clock?: Clock; file?: string } = {},
): Promise<SandboxService> {
  const dir = mkdtempSync(join(tmpdir(), 'igdm-automation-'));
  const path = join(dir, opts.file ?? 'automation.yaml');
  writeFileSync(path, config);
  const env = Object.entries(opts.env ?? {});
  // The providers are built at start from process.env: set their variables for the start only.
  const saved = new Map<string, string | undefined>();
  for (const [k, v] of env.filter(([k]) => AI_ENV.test(k))) {
    saved.set(k, process.env[k]);
    process.env[k] = v;
  }
  try {
    return await startSandboxService({
      env: { IGDM_CONFIG: path, ...Object.fromEntries(env.filter(([k]) => !AI_ENV.test(k))) },
      ...(opts.clock && { clock: opts.clock }),
    });
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** The environment that points the `openai` provider at a local fake (see test/engine/ai/fake-llm.ts). */
export const fakeOpenAiEnv = (origin: string) => ({
  OPENAI_BASE_URL: `${origin}/v1`,
  OPENAI_API_KEY: 'fake-key',
});

// ---------- what the customer sees ----------

/** The `message` of a Send API call the sandbox recorded. */
// biome-ignore lint/suspicious/noExplicitAny: sandbox bodies are read field by field in assertions
export const messageOf = (e: OutboxEntry): any => (e.body as { message?: unknown }).message;

/** Successful sends of messages (not sender actions) to one customer, oldest first. */
export async function sentTo(svc: SandboxService, igsid: string) {
  return delivered(await svc.outbox()).filter((e) => e.recipientId === igsid && messageOf(e) !== undefined);
}

/** Waits until the customer has received `n` messages in all, and returns them (oldest first). */
export async function received(svc: SandboxService, igsid: string, n: number, timeoutMs = 5000) {
  return until(
    () => sentTo(svc, igsid),
    (sent) => sent.length >= n,
    `${n} message(s) sent to ${igsid}`,
    timeoutMs,
  );
}

/** The texts the customer has received so far, once the `n` expected have arrived. */
export async function textsReceived(svc: SandboxService, igsid: string, n: number) {
  return (await received(svc, igsid, n)).map((e) => messageOf(e).text as string | undefined);
}

/**
 * Nothing more reaches the customer: no reply queued in the store for the conversation beyond
 * `n` messages, and after the sender had time, still `n` at the sandbox.
 */
export async function noMoreThan(svc: SandboxService, igsid: string, n: number) {
  await svc.settled();
  const queued = await svc.store.db
    .selectFrom('outbox')
    .select('id')
    .where('conversationId', '=', conversationIdOf('default', igsid))
    .execute();
  expect(queued.length, 'replies queued for the conversation').toBeLessThanOrEqual(n);
  await sleep(50);
  expect(await sentTo(svc, igsid)).toHaveLength(n);
}

// ---------- the API ----------

export const conversationId = (igsid: string) => conversationIdOf('default', igsid);

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
export async function conversation(svc: SandboxService, igsid: string): Promise<any> {
  const r = await svc.json(`/v1/conversations/${conversationId(igsid)}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

/** The engine's jobs of a conversation, oldest first (GET /v1/jobs). */
// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
export async function jobsOf(svc: SandboxService, igsid: string): Promise<any[]> {
  const r = await svc.json(`/v1/jobs?queue=engine&conversationId=${conversationId(igsid)}&limit=200`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return (r.body.data as { id: number }[]).sort((a, b) => a.id - b.id);
}

/** What the engine did with each event of the conversation, oldest first (the jobs' results). */
// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
export async function outcomes(svc: SandboxService, igsid: string): Promise<any[]> {
  // Echoes of igdm's sends arrive in the background, and wait (RetryLater) while a send is settling.
  await svc.sandbox!.delivery.settled();
  await svc.settled();
  const jobs = await until(
    () => jobsOf(svc, igsid),
    (js) => js.every((j) => j.status === 'done' || j.status === 'dead'),
    `the jobs of ${igsid} done`,
  );
  for (const j of jobs) expect(j.status, JSON.stringify(j)).toBe('done');
  return jobs.flatMap((j) => j.result);
}

/**
 * What the engine did with the customer's last event: the last outcome that is not the echo of one
 * of igdm's own sends (those arrive after the reply, in the background).
 */
// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
export async function lastOutcome(svc: SandboxService, igsid: string): Promise<any> {
  const all = (await outcomes(svc, igsid)).filter((o) => !(o.kind === 'echo' && o.echo === 'igdm'));
  expect(all.length, `an outcome for ${igsid}`).toBeGreaterThan(0);
  return all.at(-1);
}

// ---------- webhooks the sandbox does not make by itself ----------

/**
 * Delivers a messaging item as Meta would (signed with the sandbox channel's secret, Meta's
 * escaping), e.g. an echo of a message typed in the Instagram app or a routing webhook, and waits
 * until igdm has applied and handled it.
 */
export async function deliverItem(svc: SandboxService, item: Record<string, unknown>, source = 'messaging') {
  const sandbox = svc.sandbox!;
  const body = messagingWebhook(sandbox.options.accountId, sandbox.now(), [item]);
  if (source !== 'messaging') {
    const entry = (body.entry as Record<string, unknown>[])[0]!;
    entry[source] = entry['messaging'];
    delete entry['messaging'];
  }
  const r = await sandbox.delivery.deliver('echo', body);
  expect(r.status, JSON.stringify(r)).toBe(200);
  await svc.settled();
}

/**
 * Another app (e.g. an inbox) moves the thread at Meta, and Meta tells igdm: `pass` gives the thread
 * to igdm's app (pass_thread_control reaches the new owner), `take` takes it from igdm's app
 * (take_thread_control reaches the app that lost it).
 */
export async function otherApp(svc: SandboxService, igsid: string, action: 'pass' | 'take', appId: string) {
  const sandbox = svc.sandbox!;
  const ours = sandbox.options.appId;
  if (action === 'pass') sandbox.threadOwners.delete(igsid);
  else sandbox.threadOwners.set(igsid, appId);
  const control =
    action === 'pass'
      ? { previous_owner_app_id: appId, new_owner_app_id: ours, metadata: 'back to the bot' }
      : { previous_owner_app_id: ours, new_owner_app_id: appId };
  await deliverItem(
    svc,
    messagingItem(igsid, sandbox.options.accountId, sandbox.now(), { [`${action}_thread_control`]: control }),
  );
}

let echoes = 0;
/** A message the business typed in the Instagram app (not sent by igdm), echoed to igdm. */
export function appEcho(svc: SandboxService, igsid: string, text: string, appId?: string) {
  const sandbox = svc.sandbox!;
  const mid = `aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDA6app${++echoes}${Date.now()}`;
  return deliverItem(
    svc,
    messagingItem(sandbox.options.accountId, igsid, sandbox.now(), {
      message: { mid, text, is_echo: true, ...(appId && { app_id: Number(appId) }) },
    }),
  ).then(() => mid);
}

export { delivered, sleep, until };

// ---------- a rule webhook's receiver ----------

export interface Hook {
  /** The path and query it was POSTed to. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The exact bytes received. */
  raw: string;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are read field by field in assertions
  body: any;
}

export interface HookReceiver {
  url: string;
  received: Hook[];
  /** The HTTP status of the next answers (default 200). */
  status: (hook: Hook) => number;
  /** How long it waits before answering (default 0). */
  delayMs: (hook: Hook) => number;
  close(): Promise<void>;
}

/** A local HTTP server on 127.0.0.1 that records the POSTs of rule webhooks. */
export async function startHookReceiver(): Promise<HookReceiver> {
  const r = { received: [] as Hook[], status: () => 200, delayMs: () => 0 } as unknown as HookReceiver;
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const hook: Hook = { url: req.url ?? '', headers: req.headers, raw, body: raw ? JSON.parse(raw) : null };
    r.received.push(hook);
    const wait = r.delayMs(hook);
    if (wait > 0) await new Promise((done) => setTimeout(done, wait));
    res.writeHead(r.status(hook)).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/igdm`;
  r.close = async () => {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  };
  return r;
}
