import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventsAfter } from '../../src/store/events.ts';
import { startHookReceiver } from '../engine/flow/support.ts';
import { type SandboxService, sleep, startSandboxService, until } from '../send/support.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/postgres.ts';
import { API_KEY } from '../support/service.ts';
import { sseFrames } from '../support/sse.ts';

// The event log's readers on PostgreSQL, where ids commit out of order across transactions: the
// stream (GET /v1/events, with Last-Event-ID) and the outbound webhooks' dispatcher get every event
// once, in one stable order, when an event with a lower id commits after one with a higher id, and
// when a transaction that began first writes the higher id; a stream opened without a cursor gets
// nothing committed before it opened, though an older transaction holds the readers back.

const postgres = await postgresAvailable();

describe.skipIf(!postgres)('the event log on PostgreSQL', () => {
  let database: TestDatabase;
  let dataDir: string;
  let svc: SandboxService;
  let hooks: Awaited<ReturnType<typeof startHookReceiver>>;
  const clients: pg.Client[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'igdm-pg-cursor-'));
    svc = await startSandboxService({
      env: { DATABASE_URL: database.url, IGDM_DATA_DIR: dataDir },
    });
    hooks = await startHookReceiver();
  });
  afterAll(async () => {
    for (const c of clients) await c.end().catch(() => {});
    await svc?.stop();
    await hooks?.close();
    await database?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** A connection of its own, to hold a transaction open as the projection, engine or sender would. */
  const writer = async () => {
    const c = new pg.Client({ connectionString: database.url });
    await c.connect();
    clients.push(c);
    return c;
  };
  /** Appends an event in `c`'s open transaction; its id. */
  const append = async (c: pg.Client, marker: string) => {
    const { rows } = await c.query(
      `insert into events (event, channel_id, conversation_id, data, created_at)
       values ('message.received', 'default', null, $1, $2) returning id`,
      [JSON.stringify({ marker }), Date.now()],
    );
    return Number(rows[0].id);
  };

  /** An open stream: the marked events read so far (id and marker), and a way to close it. */
  async function listen(headers: Record<string, string> = {}) {
    const abort = new AbortController();
    const res = await fetch(`${svc.url}/v1/events`, {
      headers: { authorization: `Bearer ${API_KEY}`, ...headers },
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    const events: { id: number; marker: string }[] = [];
    const reading = (async () => {
      try {
        for await (const { id, data } of sseFrames(res.body!)) {
          const marker = data ? (JSON.parse(data) as { data: { marker?: string } }).data.marker : undefined;
          if (id !== undefined && marker !== undefined) events.push({ id: Number(id), marker });
        }
      } catch {
        // aborted
      }
    })();
    return {
      events,
      close: async () => {
        abort.abort();
        await reading;
      },
    };
  }
  const markers = (es: { marker: string }[]) => es.map((e) => e.marker);

  it('runs on PostgreSQL', () => {
    expect(svc.store.kind).toBe('postgres');
  });

  it('an event with a lower id committing after a higher one is streamed and delivered, once each', async () => {
    const made = await svc.json('/v1/webhook-endpoints', {
      body: { url: hooks.url, events: ['message.received'] },
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const stream = await listen();
    const [slow, quick] = [await writer(), await writer()];

    await slow.query('begin');
    const a = await append(slow, 'A'); // the lower id, committed last
    await quick.query('begin');
    const b = await append(quick, 'B');
    expect(b).toBeGreaterThan(a);
    await quick.query('commit');
    // Time for the readers to read B while A is still open (a reader following ids did, and then
    // never went back for A).
    await sleep(400);
    expect(markers(stream.events)).toEqual([]);
    await slow.query('commit');

    await until(
      () => stream.events,
      (es) => es.length >= 2,
      'both events on the stream',
    );
    // A's transaction began first: A comes first, though it committed last.
    expect(stream.events).toEqual([
      { id: a, marker: 'A' },
      { id: b, marker: 'B' },
    ]);
    const deliveries = await until(
      async () =>
        (await svc.json(`/v1/webhook-endpoints/${made.body.id}/deliveries`)).body.data as {
          eventId: string;
        }[],
      (ds) => ds.length >= 2,
      'a delivery for each event',
    );
    expect(deliveries.map((d) => Number(d.eventId)).sort()).toEqual([a, b].sort());
    await until(
      () => hooks.received.filter((h) => h.body?.data?.marker),
      (hs) => hs.length >= 2,
      'both POSTed',
    );
    // A reconnect after A gets B; after B, nothing of them again.
    const afterA = await listen({ 'last-event-id': String(a) });
    const afterB = await listen({ 'last-event-id': String(b) });
    await until(
      () => afterA.events,
      (es) => es.length >= 1,
      'B after A',
    );
    await sleep(200);
    await Promise.all([stream.close(), afterA.close(), afterB.close()]);
    expect(markers(afterA.events)).toEqual(['B']);
    expect(afterB.events).toEqual([]);
    expect(markers(stream.events)).toEqual(['A', 'B']);
    expect(
      hooks.received
        .filter((h) => h.body?.data?.marker)
        .map((h) => h.body.data.marker)
        .sort(),
    ).toEqual(['A', 'B']);
  });

  it('a transaction that began first but wrote the higher id: a client resuming after it gets the other', async () => {
    const before = (await eventsAfter(svc.store.db, 0, 1000)).at(-1)?.id ?? 0;
    const stream = await listen({ 'last-event-id': String(before) });
    const [first, second] = [await writer(), await writer()];
    await first.query('begin');
    await first.query('select pg_current_xact_id()'); // its transaction id: the older one
    await second.query('begin');
    const c = await append(second, 'C');
    await second.query('commit');
    const d = await append(first, 'D');
    expect(d).toBeGreaterThan(c);
    await first.query('commit');

    await until(
      () => stream.events,
      (es) => es.length >= 2,
      'both events on the stream',
    );
    // The order readers follow: D's transaction is the older.
    expect(stream.events).toEqual([
      { id: d, marker: 'D' },
      { id: c, marker: 'C' },
    ]);
    expect((await eventsAfter(svc.store.db, before, 10)).map((e) => e.id)).toEqual([d, c]);
    // A client that had D (and not yet C) resumes with D's id: it gets C, though C's id is lower.
    const resumed = await listen({ 'last-event-id': String(d) });
    await until(
      () => resumed.events,
      (es) => es.length >= 1,
      'C after D',
    );
    await Promise.all([stream.close(), resumed.close()]);
    expect(resumed.events).toEqual([{ id: c, marker: 'C' }]);
    expect(markers(stream.events)).toEqual(['D', 'C']);
  });

  it('a stream opened without a cursor gets only what committed after it opened, though an older transaction is open', async () => {
    const [held, quick] = [await writer(), await writer()];
    await held.query('begin');
    await held.query('select pg_current_xact_id()'); // an id: the readers stay behind it
    const e = await append(quick, 'E'); // committed before the stream opens
    const stream = await listen();
    const f = await append(quick, 'F'); // committed after
    await sleep(300);
    expect(markers(stream.events)).toEqual([]); // both wait for the older transaction
    await held.query('commit');

    await until(
      () => stream.events,
      (es) => es.length >= 1,
      'F on the stream',
    );
    // A client that had E (from a stream opened before it) resumes with its id: it gets F.
    const resumed = await listen({ 'last-event-id': String(e) });
    await until(
      () => resumed.events,
      (es) => es.length >= 1,
      'F after E',
    );
    await sleep(200);
    await Promise.all([stream.close(), resumed.close()]);
    expect(stream.events).toEqual([{ id: f, marker: 'F' }]);
    expect(resumed.events).toEqual([{ id: f, marker: 'F' }]);
  });

  it('an endpoint made or enabled again while an older transaction is open gets only what committed after', async () => {
    // The earlier tests' endpoints go: what reaches the receiver from now on is this one's.
    const { body: list } = await svc.json('/v1/webhook-endpoints');
    for (const e of list.data as { id: string }[])
      expect((await svc.json(`/v1/webhook-endpoints/${e.id}`, { method: 'DELETE' })).status).toBe(204);
    const already = hooks.received.length;
    const received = () =>
      hooks.received
        .slice(already)
        .filter((h) => h.body?.data?.marker)
        .map((h) => h.body.data.marker as string);
    const quick = await writer();
    /** A transaction open on a connection of its own: the readers stay behind it until it ends. */
    const hold = async () => {
      const held = await writer();
      await held.query('begin');
      await held.query('select pg_current_xact_id()');
      return held;
    };
    let held = await hold();
    await append(quick, 'G'); // committed before the endpoint is made
    const made = await svc.json('/v1/webhook-endpoints', {
      body: { url: hooks.url, events: ['message.received'] },
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    await append(quick, 'H'); // committed after
    await sleep(300);
    expect(received()).toEqual([]); // both wait for the older transaction
    await held.query('commit');
    await until(received, (ms) => ms.includes('H'), 'H delivered');

    // Disabled, an event, enabled again: what committed while it was off is not sent either.
    held = await hold();
    const patch = (enabled: boolean) =>
      svc.json(`/v1/webhook-endpoints/${made.body.id}`, { method: 'PATCH', body: { enabled } });
    expect((await patch(false)).status).toBe(200);
    await append(quick, 'I');
    expect((await patch(true)).status).toBe(200);
    await append(quick, 'J');
    await held.query('commit');
    await until(received, (ms) => ms.includes('J'), 'J delivered');
    await sleep(300);
    expect(received()).toEqual(['H', 'J']);
  });
});
