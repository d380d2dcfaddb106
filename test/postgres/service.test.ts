import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresIngestWriter } from '../../src/ingest/postgres-writer.ts';
import type { OutboxEntry } from '../../src/sandbox/index.ts';
import { messagingItem } from '../../src/sandbox/wire.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { startWithConfig } from '../engine/flow/support.ts';
import { delivered, type SandboxService, until } from '../send/support.ts';
import { allMessages, conversationOf } from '../support/conversations.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/postgres.ts';

// The service on PostgreSQL (DATABASE_URL=postgres://…), in sandbox mode, through its HTTP API:
// webhooks stored once and acknowledged after the commit, applied to conversations in Meta's order,
// the engine's jobs and the sends on PostgresQueue, each reply sent exactly once.

const postgres = await postgresAvailable();

/** The README's echo rule: "seq N" is answered "ack seq N". */
const RULES = `rules:
  - name: echo
    when: { regex: "^seq \\\\d+$" }
    reply: { type: text, text: "ack {{text}}" }
`;

describe.skipIf(!postgres)('the service on PostgreSQL', () => {
  let database: TestDatabase;
  let dataDir: string;
  let svc: SandboxService;

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'igdm-pg-data-'));
    svc = await start();
  });
  const start = () => startWithConfig(RULES, { env: { DATABASE_URL: database.url, IGDM_DATA_DIR: dataDir } });
  afterAll(async () => {
    await svc?.stop();
    await database?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  let mids = 0;
  const item = (igsid: string, timestamp: number, text: string) =>
    messagingItem(igsid, svc.sandbox!.options.accountId, timestamp, {
      message: { mid: `aWdfZAG1faXRlbTpwZzo${++mids}x${timestamp}`, text },
    });
  const bodyOf = (items: ReturnType<typeof item>[]) => ({
    object: 'instagram' as const,
    entry: [{ id: svc.sandbox!.options.accountId, time: Date.now(), messaging: items }],
  });
  /** Delivers a body as Meta does (signed); it must be acknowledged. */
  const deliver = async (body: object) => {
    const r = await svc.sandbox!.delivery.deliver('customer', body);
    expect(r.status, JSON.stringify(r)).toBe(200);
  };
  /** A customer the sandbox knows, who has written (so its Send API takes replies to them). */
  const customer = (name: string) => {
    const c = svc.sandbox!.customers.resolve(name);
    svc.sandbox!.customers.wrote(c, Date.now());
    return c.igsid;
  };
  const textOf = (e: OutboxEntry) => (e.body as { message?: { text?: string } }).message?.text;
  const textsTo = async (igsid: string) =>
    delivered(await svc.outbox())
      .filter((e) => e.recipientId === igsid && textOf(e) !== undefined)
      .map((e) => textOf(e)!);

  it('runs on PostgreSQL', () => {
    expect(svc.store.kind).toBe('postgres');
  });

  it('a customer DM shows in the conversations and their messages', async () => {
    const { igsid, mid } = await svc.customer({ from: 'Pg Customer One', text: 'hello from postgres' });
    const conversation = await conversationOf(svc, igsid);
    expect(conversation).toMatchObject({ igsid, windowOpen: true });
    const listed = await svc.json('/v1/conversations');
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((c: { id: string }) => c.id)).toContain(conversation!.id);
    const messages = await allMessages(svc, conversation!.id);
    expect(messages).toEqual([
      expect.objectContaining({ mid, direction: 'inbound', text: 'hello from postgres', type: 'text' }),
    ]);
  });

  it('erasing a contact erases them and keeps a record (test/postgres/erasure.test.ts in full)', async () => {
    const { igsid } = await svc.customer({ from: 'Pg Customer Erased', text: 'forget me' });
    const conversation = await conversationOf(svc, igsid);
    const contactId = conversation!.contact.id;
    const erased = await until(
      () => svc.json(`/v1/contacts/${contactId}`, { method: 'DELETE' }),
      (r) => r.status !== 409,
      'the erasure',
    );
    expect(erased.status, JSON.stringify(erased.body)).toBe(200);
    expect(erased.body).toMatchObject({ contactId, counts: { conversations: 1, messages: 1 } });
    expect((await svc.json(`/v1/contacts/${contactId}`)).status).toBe(404);
    expect(await svc.json(`/v1/contacts/${contactId}`, { method: 'DELETE' })).toMatchObject({
      status: 200,
      body: erased.body,
    });
  });

  it('replies through POST /v1/messages reach the Send API exactly once, their echoes no second message', async () => {
    // Several at once: a send's outcome and its echo are written by different transactions, which
    // PostgreSQL may run at the same moment (store/mid-lock.ts).
    const customers = await Promise.all(
      [1, 2, 3, 4, 5, 6, 7, 8].map((n) => svc.customer({ from: `Pg Replied ${n}`, text: 'can you answer?' })),
    );
    const sends = await Promise.all(
      customers.map(({ igsid }) =>
        svc.send({ to: igsid, content: { type: 'text', text: `Answered ${igsid}` } }),
      ),
    );
    for (const r of sends) expect(r.status, JSON.stringify(r.body)).toBe(202);
    const sent = await Promise.all(sends.map((r) => svc.waitMessage(r.body.id)));
    await svc.sandbox!.delivery.settled();
    await svc.settled();
    for (const [i, { igsid }] of customers.entries()) {
      expect(sent[i]).toMatchObject({ status: 'sent', mid: expect.any(String) });
      expect(await textsTo(igsid)).toEqual([`Answered ${igsid}`]);
      const messages = await svc.thread(igsid);
      expect(messages.filter((m) => m.direction === 'outbound')).toEqual([
        expect.objectContaining({ id: sends[i]!.body.id, text: `Answered ${igsid}`, mid: sent[i].mid }),
      ]);
    }
  });

  it('a webhook delivered twice is stored once, and answered once', async () => {
    const igsid = customer('Pg Customer Three');
    const before = await svc.eventCount();
    const body = bodyOf([item(igsid, Date.now() - 1000, 'seq 1')]);
    await Promise.all([deliver(body), deliver(body)]);
    await deliver(body);
    expect(await svc.eventCount()).toBe(before + 1);
    await until(
      () => textsTo(igsid),
      (t) => t.length >= 1,
      'the reply',
    );
    await svc.settled();
    expect(await textsTo(igsid)).toEqual(['ack seq 1']);
    const inbound = (await svc.thread(igsid)).filter((m) => m.direction === 'inbound');
    expect(inbound.map((m) => m.text)).toEqual(['seq 1']);
  });

  it('a webhook is acknowledged only once stored: refused (503) while the insert fails, then stored', async () => {
    const igsid = customer('Pg Customer Refused');
    const body = bodyOf([item(igsid, Date.now() - 1000, 'seq 7 refuse-me')]);
    // The database refuses this event (as a failing disk or a lost primary would).
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      await admin.query(`create function refuse_marked() returns trigger language plpgsql as $$
        begin
          if new.payload like '%refuse-me%' then raise exception 'refused for the test'; end if;
          return new;
        end $$`);
      await admin.query(
        'create trigger refuse_marked before insert on webhook_events for each row execute function refuse_marked()',
      );
      const before = await svc.eventCount();
      const refused = await svc.sandbox!.delivery.deliver('customer', body);
      expect(refused.status).toBe(503);
      expect(await svc.eventCount()).toBe(before);
      await admin.query('drop trigger refuse_marked on webhook_events');
      // Meta delivers it again: stored, applied.
      await deliver(body);
      expect(await svc.eventCount()).toBe(before + 1);
    } finally {
      await admin.end();
    }
    const inbound = (await svc.thread(igsid)).filter((m) => m.direction === 'inbound');
    expect(inbound.map((m) => m.text)).toEqual(['seq 7 refuse-me']);
  });

  it('a failure of PostgreSQL while applying is retried; a statement the data breaks marks its event unapplied', async () => {
    const igsid = customer('Pg Customer Faults');
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    const unapplied = async () =>
      (await svc.json('/v1/webhook-events?status=unapplied&limit=100')).body.data as { payload: unknown }[];
    try {
      // A full disk (SQLSTATE 53100) for one message, a data error (22000) for another.
      await admin.query(`create function fail_marked() returns trigger language plpgsql as $$
        begin
          if new.text like '%disk-full%' then raise exception 'no space left' using errcode = '53100'; end if;
          if new.text like '%bad-data%' then raise exception 'bad data' using errcode = '22000'; end if;
          return new;
        end $$`);
      await admin.query(
        'create trigger fail_marked before insert on messages for each row execute function fail_marked()',
      );
      await deliver(bodyOf([item(igsid, Date.now() - 2000, 'disk-full then fine')]));
      const failing = await until(
        async () =>
          ((await (await fetch(`${svc.url}/readyz`)).json()) as { apply: { ok: boolean; reason?: string } })
            .apply,
        (apply) => apply.ok === false,
        'applying reported failing',
      );
      expect(failing.reason).toContain('no space left');
      expect(JSON.stringify(await unapplied())).not.toContain('disk-full');
      await admin.query(`create or replace function fail_marked() returns trigger language plpgsql as $$
        begin
          if new.text like '%bad-data%' then raise exception 'bad data' using errcode = '22000'; end if;
          return new;
        end $$`);
      // Once the disk has room again, the retry applies it.
      await until(
        async () => (await svc.thread(igsid)).map((m) => m.text),
        (texts) => texts.includes('disk-full then fine'),
        'the message applied after the failure',
        10_000,
      );
      await deliver(bodyOf([item(igsid, Date.now() - 1000, 'bad-data here')]));
      await svc.settled();
      expect(JSON.stringify(await unapplied())).toContain('bad-data here');
      expect((await fetch(`${svc.url}/readyz`)).status).toBe(200);
    } finally {
      await admin.query('drop trigger if exists fail_marked on messages');
      await admin.end();
    }
  });

  it("one conversation's events, delivered out of order, are applied and answered in Meta's order", async () => {
    const igsid = customer('Pg Customer Four');
    const base = Date.now() - 30_000;
    const items = [1, 2, 3, 4, 5, 6].map((n) => item(igsid, base + n * 100, `seq ${n}`));
    // 6 and 5 first, in bodies of their own; then 1-4 in one body, backwards.
    await deliver(bodyOf([items[5]!]));
    await deliver(bodyOf([items[4]!]));
    await deliver(bodyOf([items[3]!, items[2]!, items[1]!, items[0]!]));
    const expected = [1, 2, 3, 4, 5, 6].map((n) => `ack seq ${n}`);
    await until(
      () => textsTo(igsid),
      (t) => t.length >= expected.length,
      'six replies',
      10_000,
    );
    await svc.settled();
    const texts = await textsTo(igsid);
    // Each answered once; 6 and 5 as they came (igdm cannot wait for what Meta has not sent), the
    // body's four in Meta's order.
    expect([...texts].sort()).toEqual(expected);
    expect(texts.filter((t) => /seq [1-4]$/.test(t))).toEqual(expected.slice(0, 4));
    const inbound = (await svc.thread(igsid)).filter((m) => m.direction === 'inbound');
    expect(inbound.map((m) => m.text)).toEqual([1, 2, 3, 4, 5, 6].map((n) => `seq ${n}`));
    // The conversation's clock is the latest message's: the earlier ones, applied later, leave it.
    const conversation = await conversationOf(svc, igsid);
    expect(conversation!.lastInboundAt).toBe(new Date(base + 600).toISOString());
  });

  it("one body with a conversation's messages shuffled is answered in Meta's order", async () => {
    const igsid = customer('Pg Customer Five');
    const base = Date.now() - 20_000;
    const items = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => item(igsid, base + n * 100, `seq ${n}`));
    const shuffled = [items[3]!, items[7]!, items[0]!, items[5]!, items[2]!, items[6]!, items[1]!, items[4]!];
    const body = bodyOf(shuffled);
    await Promise.all([deliver(body), deliver(body)]);
    const expected = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => `ack seq ${n}`);
    await until(
      () => textsTo(igsid),
      (t) => t.length >= expected.length,
      'eight replies',
      10_000,
    );
    await svc.settled();
    expect(await textsTo(igsid)).toEqual(expected);
  });

  it('events stored while no process applied them are applied at the next start (same data folder)', async () => {
    const igsid = customer('Pg Customer Restarted');
    const body = bodyOf([item(igsid, Date.now() - 1000, 'stored while down')]);
    const channels = (await svc.json('/v1/channels')).body.data as { id: string; accountId: string }[];
    await svc.stop();
    // Stored as a web process does, by a process that dies before anyone applies it.
    const db = openPostgres(database.url);
    try {
      const routes = channels.map((c) => ({ id: c.id, accountId: c.accountId, pageId: null }));
      const writer = new PostgresIngestWriter(db, routes, () => {});
      const r = await writer.write({
        body: JSON.stringify(body),
        channelId: null,
        verifiedBy: [],
        receivedAt: Date.now(),
      });
      expect(r).toMatchObject({ status: 'stored', inserted: 1 });
    } finally {
      await db.destroy();
    }
    // The channel's token, sealed with the key file in IGDM_DATA_DIR, opens again.
    svc = await start();
    const inbound = (await svc.thread(igsid)).filter((m) => m.direction === 'inbound');
    expect(inbound.map((m) => m.text)).toEqual(['stored while down']);
  });

  it('/readyz checks the store, the ingest path, the projection and the data folder; /metrics answers', async () => {
    const ready = await fetch(`${svc.url}/readyz`);
    const body = await ready.json();
    expect(ready.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({
      status: 'ready',
      store: { ok: true },
      ingest: { ok: true },
      apply: { ok: true, backlog: 0 },
      disk: { ok: true, freeBytes: expect.any(Number) },
    });
    const metrics = await svc.api('/metrics');
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('queue="engine"');
  });

  it('the engine and the sender ran on the PostgreSQL queue (GET /v1/jobs)', async () => {
    const r = await svc.json('/v1/jobs?queue=engine&limit=100');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.data.length).toBeGreaterThan(0);
    expect(r.body.counts.dead).toBe(0);
  });
});
