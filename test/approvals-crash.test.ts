import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyWebhook } from '@igdm/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxServer } from '../src/sandbox/index.ts';
import { type HookReceiver, startHookReceiver } from './engine/flow/support.ts';
import { runTestSandbox } from './send/stack.ts';
import { Clock, HOUR, SECOND, until } from './send/support.ts';
import { freePort, type IgdmProcess, killSpawned, spawnIgdm } from './support/http.ts';
import { API_KEY, databaseUrlOf, startTestService, TEST_STORE, type TestService } from './support/service.ts';
import { storedBytes, storedQuery } from './support/stored.ts';

// Approvals across crashes and restarts, with igdm as a real process (LOG_LEVEL=trace) and a
// standalone sandbox: a SIGKILL while the callback of a decision is in flight leaves one delivery,
// sent again after the restart with the same id and body; a concealed value is in no file of the
// store (the database, its WAL) and in no log line, a masked one and a callback's secret only
// sealed; and approvals whose
// time ran out while igdm was down are expired as soon as it is back.

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const CONCEALED = 'Cz-concealed-PIN-7Q2wX9';
const MASKED = 'Mk-masked-IBAN-4Rt8Lp3';

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
type Any = any;

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'igdm-approvals-'));
  dirs.push(dir);
  return dir;
};
afterAll(async () => {
  await killSpawned();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Ways a value could sit in a file or a log line: as it is, JSON-escaped, hex, base64. */
function disguises(value: string): string[] {
  const bytes = Buffer.from(value);
  const out = [
    value,
    [...value].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join(''),
    bytes.toString('hex'),
    Buffer.from(value, 'utf16le').toString('latin1'),
  ];
  for (let shift = 0; shift < 3; shift++) {
    const padded = Buffer.concat([Buffer.alloc(shift), bytes]);
    for (const encoding of ['base64', 'base64url'] as const) out.push(padded.toString(encoding).slice(4, -4));
  }
  return out;
}

const fields = [
  { label: 'Amount', value: '€120' },
  { label: 'IBAN', value: MASKED, display: 'masked' },
  { label: 'PIN', value: CONCEALED, display: 'concealed' },
];

describe('igdm as a process', () => {
  let sandbox: SandboxServer;
  let hooks: HookReceiver;
  let dir: string;
  let port: number;
  let env: Record<string, string>;
  const outputs: IgdmProcess[] = [];

  beforeAll(async () => {
    dir = tempDir();
    port = await freePort();
    sandbox = await runTestSandbox(port);
    hooks = await startHookReceiver();
    // A send cut off by the kill is settled by asking the sandbox after this grace (default 20 s).
    env = { INSTAGRAM_GRAPH_API_URL: sandbox.graphApiUrl, LOG_LEVEL: 'trace', IGDM_ECHO_GRACE_MS: '500' };
  });
  afterAll(async () => {
    await hooks.close();
    await sandbox.close();
  });

  const start = async () => {
    const igdm = await spawnIgdm(dir, port, env);
    outputs.push(igdm);
    return igdm;
  };
  const call = async (igdm: IgdmProcess, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${igdm.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${API_KEY}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const customer = async (action: Record<string, unknown>) => {
    const res = await fetch(`${sandbox.url}/sandbox/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(action),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { igsid: string; mid: string };
  };
  const callbacks = (id: string) => hooks.received.filter((h) => h.body?.approvalId === id);
  /** The store's deliveries of an approval's callback, read around igdm. */
  const deliveryRows = async (id: string) =>
    storedQuery<{ id: string; webhook_id: string }>(
      await databaseUrlOf(dir),
      "select id, webhook_id from webhook_deliveries where dedup_key = 'approval|' || ?",
      [id],
    );

  it('a SIGKILL while the callback is in flight: after the restart, the same delivery, the same id and body', async () => {
    const first = await start();
    const { igsid } = await customer({ from: 'Kill Kay', text: 'hi' });
    await until(
      () => call(first, 'GET', `/v1/approvals?limit=1`).then(() => call(first, 'GET', '/v1/conversations')),
      (r) => r.body.data.some((c: Any) => c.igsid === igsid),
      'the customer applied',
    );
    const made = await call(first, 'POST', '/v1/approvals', {
      approver: igsid,
      title: 'Wire the refund',
      fields,
      expiresInSeconds: 3600,
      callbackUrl: hooks.url,
      callbackSecret: SECRET,
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const id = made.body.id as string;
    // The receiver holds the first callback: igdm has decided, and is waiting for its answer.
    hooks.delayMs = () => 60_000;
    await customer({ from: igsid, text: 'Approve ✅', quickReplyPayload: `HIL_APPROVE|${id}` });
    await until(
      () => callbacks(id),
      (hs) => hs.length === 1,
      'the first callback attempt',
    );
    first.child.kill('SIGKILL');
    await first.exited;
    expect(await deliveryRows(id)).toHaveLength(1);

    hooks.delayMs = () => 0;
    const second = await start();
    const decided = await until(
      () => call(second, 'GET', `/v1/approvals/${id}`),
      (r) => r.body.callback?.status === 'delivered',
      'the callback delivered after the restart',
      15_000,
    );
    expect(decided.body).toMatchObject({ status: 'approved', respondedBy: igsid });
    const sent = callbacks(id);
    expect(sent.length).toBeGreaterThanOrEqual(2);
    expect(new Set(sent.map((h) => h.headers['webhook-id']))).toEqual(new Set([`${id}.decision`]));
    expect(new Set(sent.map((h) => h.headers['x-igdm-delivery']))).toEqual(new Set([`${id}.decision`]));
    expect(new Set(sent.map((h) => h.raw)).size).toBe(1);
    for (const h of sent) expect(verifyWebhook<Any>(h.raw, h.headers, SECRET).status).toBe('approved');
    const rows = await deliveryRows(id);
    expect(rows.map((r) => r.id)).toEqual([decided.body.callback.deliveryId]);
    // The approver is told once: one send for the answer, whichever process made it.
    const confirmation = (e: { body: unknown }) =>
      (e.body as Any).message?.text === '✅ Approved: Wire the refund';
    await until(
      () => sandbox.state.outbox.list().filter(confirmation),
      (sends) => sends.length >= 1,
      'the confirmation',
      15_000,
    );
    const sends = await storedQuery(
      await databaseUrlOf(dir),
      "select id from outbox where body like '%Approved: Wire the refund%'",
    );
    expect(sends).toHaveLength(1);
    expect(sandbox.state.outbox.list().filter(confirmation)).toHaveLength(1);
  });

  it('keeps a concealed value in no file and no log line; a masked one and the callback secret only sealed', async () => {
    const igdm = await start();
    const { igsid } = await customer({ from: 'Secret Sam', text: 'hi' });
    await until(
      () => call(igdm, 'GET', '/v1/conversations'),
      (r) => r.body.data.some((c: Any) => c.igsid === igsid),
      'the customer applied',
    );
    const ask = (body: Record<string, unknown>) =>
      call(igdm, 'POST', '/v1/approvals', {
        approver: igsid,
        title: 'Open the vault',
        fields,
        expiresInSeconds: 3600,
        callbackUrl: hooks.url,
        ...body,
      });
    // Refused ones too: bad input, and an approver outside the window.
    expect((await ask({ title: '' })).status).toBe(400);
    expect((await ask({ approver: '1234567' })).status).toBe(422);
    const made = await ask({});
    expect(made.status).toBe(201);
    expect(JSON.stringify(made.body)).not.toContain(CONCEALED);
    await customer({ from: igsid, text: 'Reject ❌', quickReplyPayload: `HIL_REJECT|${made.body.id}` });
    await until(
      () => call(igdm, 'GET', `/v1/approvals/${made.body.id}`),
      (r) => r.body.callback?.status === 'delivered',
      'decided and called back',
    );
    // The DM said neither.
    const dms = JSON.stringify(sandbox.state.outbox.list());
    expect(dms).not.toContain(CONCEALED);
    expect(dms).not.toContain(MASKED);
    // A WAL not checkpointed yet holds the latest writes: read every file of the store as it is now
    // (on PostgreSQL, every row of every table).
    const stored = await storedBytes(await databaseUrlOf(dir));
    if (TEST_STORE === 'sqlite') expect(stored.map((s) => s.name)).toContain('igdm.sqlite-wal');
    expect(stored.some((s) => s.bytes.includes(made.body.id))).toBe(true);
    for (const { name, bytes } of stored) {
      const text = bytes.toString('latin1');
      for (const d of [...disguises(CONCEALED), ...disguises(MASKED), ...disguises(SECRET)])
        expect(text.includes(Buffer.from(d).toString('latin1')), `${d} in ${name}`).toBe(false);
    }
    igdm.child.kill('SIGTERM');
    await igdm.exited;
    const logs = outputs.map((p) => p.output()).join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const d of [...disguises(CONCEALED), ...disguises(MASKED), ...disguises(SECRET)])
      expect(logs).not.toContain(d);
  });
});

describe('expiry across a restart', () => {
  it('decides an approval whose time ran out while igdm was down, as soon as it is back', async () => {
    const clock = new Clock();
    const dir = tempDir();
    const port = await freePort();
    const sandbox = await runTestSandbox(port, { now: clock.now, echoDelayMs: 0 });
    const hooks = await startHookReceiver();
    const env = { PORT: String(port), INSTAGRAM_GRAPH_API_URL: sandbox.graphApiUrl };
    let svc: TestService = await startTestService(env, dir, { now: clock.now });
    try {
      const res = await fetch(`${sandbox.url}/sandbox/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ from: 'Sleepy Sue', text: 'hi' }),
      });
      const { igsid } = (await res.json()) as { igsid: string };
      await svc.settled();
      const ask = async (expiresInSeconds: number) => {
        const r = await svc.api('/v1/approvals', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            approver: igsid,
            title: 'Before lunch',
            expiresInSeconds,
            callbackUrl: hooks.url,
            callbackSecret: SECRET,
          }),
        });
        expect(r.status).toBe(201);
        return (await r.json()) as { id: string; messageId: string };
      };
      const made = [await ask(60), await ask(2 * 3600)];
      const [soon, later] = [made[0]!.id, made[1]!.id];
      // Stopped once the DMs went and their echoes came: a webhook in flight would hold the close open.
      for (const a of made)
        await until(
          async () => (await (await svc.api(`/v1/messages/${a.messageId}`)).json()) as Any,
          (m) => m.status === 'sent',
          'the DM sent',
        );
      await sandbox.state.delivery.settled();
      await svc.settled();
      await svc.stop();

      clock.advance(HOUR + SECOND);
      svc = await startTestService(env, dir, { now: clock.now });
      const get = async (id: string) => (await (await svc.api(`/v1/approvals/${id}`)).json()) as Any;
      const expired = await until(
        () => get(soon),
        (a) => a.callback?.status === 'delivered',
        'expired and called back',
      );
      expect(expired).toMatchObject({
        status: 'expired',
        approved: null,
        decidedAt: new Date(clock.now()).toISOString(),
      });
      const [hook] = hooks.received.filter((h) => h.body.approvalId === soon);
      expect(verifyWebhook<Any>(hook!.raw, hook!.headers, SECRET)).toMatchObject({ status: 'expired' });
      expect((await get(later)).status).toBe('pending');
    } finally {
      await svc.stop();
      await hooks.close();
      await sandbox.close();
    }
  });
});
