import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxService, startSandboxService, until } from '../send/support.ts';
import {
  type Customers,
  eraseWhenIdle,
  expectErased,
  seedCustomers,
  tablesHolding,
} from '../support/erasure.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/postgres.ts';
import { API_KEY } from '../support/service.ts';
import { sseFrames } from '../support/sse.ts';

// Contact erasure (DELETE /v1/contacts/:id) with the service on PostgreSQL: a customer writes text,
// sends a photo, mentions the account in a story, comments and reacts to a reply; an agent notes
// and tags the conversation; one reply waits in the outbox; an endpoint echoes her events back.
// After the erasure no table's row holds her IGSID, name or words, the event log's rows about her
// are blanked (ids kept, so a client resuming with one of their ids still gets what follows), a
// record with counts stays, and another customer's data is untouched.

const postgres = await postgresAvailable();

describe.skipIf(!postgres)('contact erasure on PostgreSQL', () => {
  let database: TestDatabase;
  let dataDir: string;
  let svc: SandboxService;
  let echo: Server;
  let client: pg.Client;
  let zelda: Customers['zelda'];
  let other: Customers['other'];

  const call = async (method: string, path: string) => {
    const r = await svc.json(path, { method });
    return { status: r.status, body: r.body };
  };
  /** The events a client resuming after `lastEventId` is sent, until one matches `last`. */
  async function resume(lastEventId: number, last: (e: { event: string; data: unknown }) => boolean) {
    const abort = new AbortController();
    const res = await fetch(`${svc.url}/v1/events`, {
      headers: { authorization: `Bearer ${API_KEY}`, 'last-event-id': String(lastEventId) },
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    const events: { id: number; event: string; data: unknown }[] = [];
    const timer = setTimeout(() => abort.abort(), 10_000);
    try {
      for await (const { id, data } of sseFrames(res.body!)) {
        if (id !== undefined && data !== undefined) {
          const e = JSON.parse(data) as { event: string; data: unknown };
          events.push({ id: Number(id), event: e.event, data: e.data });
        }
        if (events.some(last)) break;
      }
    } catch {
      // aborted: the events so far
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
    return events;
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'igdm-pg-erasure-'));
    svc = await startSandboxService({ env: { DATABASE_URL: database.url, IGDM_DATA_DIR: dataDir } });
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
    ({ zelda, other, echo } = await seedCustomers(svc));
  });
  afterAll(async () => {
    await client?.end().catch(() => {});
    await svc?.stop();
    echo?.closeAllConnections();
    echo?.close();
    await database?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs on PostgreSQL', () => {
    expect(svc.store.kind).toBe('postgres');
  });

  it('is refused (409 contact_busy) while a send to the contact has no outcome yet', async () => {
    await svc.inject({ kind: 'late_answer', delayMs: 3000, path: 'messages' });
    const reply = await svc.send({
      to: zelda.igsid,
      content: { type: 'text', text: 'One more Pinewood thing' },
    });
    expect(reply.status).toBe(202);
    await svc.waitOutbox(reply.body.id, (row) => row.status === 'sending');
    await svc.sandbox!.delivery.settled();
    await svc.settled();
    // (Its echo's event may still be on its way in: busy for that reason first.)
    const busy = await until(
      () => call('DELETE', `/v1/contacts/${zelda.contactId}`),
      (r) => r.status !== 409 || !r.body.error.message.includes('webhook event'),
      'busy with the send',
    );
    expect(busy).toMatchObject({ status: 409, body: { error: { code: 'contact_busy' } } });
    expect(busy.body.error.message).toContain('sending');
    await svc.waitMessage(reply.body.id);
    expect((await call('GET', `/v1/contacts/${zelda.contactId}`)).status).toBe(200);
  });

  it('erases every row about the contact in one go, keeps a record, and leaves the others', async () => {
    // A reply that waits in the outbox (Meta throttles the account for an hour): it will not go.
    await svc.inject({ kind: 'throttle', regainAccessMinutes: 60, path: 'messages' });
    const waiting = await svc.send({ to: zelda.igsid, content: { type: 'text', text: 'Pinewood, later' } });
    expect(waiting.status).toBe(202);
    await svc.waitOutbox(waiting.body.id, (row) => row.status === 'queued' && row.error !== null);
    const otherBefore = (await call('GET', `/v1/contacts/${other.contactId}/export`)).body;
    const exported = await call('GET', `/v1/contacts/${zelda.contactId}/export`);
    expect(exported.status, JSON.stringify(exported.body)).toBe(200);
    const before = exported.body;
    expect(await tablesHolding(svc.store, zelda.igsid)).toEqual(
      expect.arrayContaining(['contacts', 'conversations', 'webhook_events', 'events', 'outbox', 'comments']),
    );
    expect(await tablesHolding(svc.store, 'pinewood')).toEqual(
      expect.arrayContaining(['messages', 'webhook_attempts']),
    );
    const erasedIds = (before.events as { id: string }[]).map((e) => Number(e.id));

    const r = await eraseWhenIdle(() => call('DELETE', `/v1/contacts/${zelda.contactId}`));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({
      id: expect.stringMatching(/^era_/),
      contactId: zelda.contactId,
      channelId: 'default',
      counts: { conversations: 1, notes: 1, storyMentions: 1, comments: 1, sends: 3, sendsCancelled: 1 },
    });
    expect(r.body.counts.webhookDeliveries).toBeGreaterThanOrEqual(3);
    expect(r.body.counts).toMatchObject({
      messages: before.messages.length,
      events: before.events.length,
      webhookEvents: before.webhookEvents.length,
    });
    expect(before.messages).toHaveLength(6);

    // No row of any table names her or holds what she wrote, said or was told.
    await expectErased(svc.store, zelda.igsid);
    const { rows: outbox } = await client.query(
      `select status, error, body, recipient, mid from outbox where conversation_id = $1`,
      [zelda.conversationId],
    );
    expect(outbox.map((o) => o.status).sort()).toEqual(['failed', 'sent', 'sent']);
    expect(outbox.find((o) => o.status === 'failed').error).toContain('erased');
    expect(outbox.every((o) => o.body === '{}' && o.recipient === '{}' && o.mid === null)).toBe(true);
    // The event log's rows about her stay, blank: id and tx kept, nothing else of hers.
    const { rows: blank } = await client.query(
      `select id, tx, event, data, conversation_id, dedup_key from events where id = any($1) order by id`,
      [erasedIds],
    );
    expect(blank.map((e) => Number(e.id))).toEqual([...erasedIds].sort((a, b) => a - b));
    for (const e of blank)
      expect(e).toMatchObject({
        event: 'erased',
        data: '{"erased":true}',
        conversation_id: null,
        dedup_key: null,
      });
    expect(blank.every((e) => e.tx !== null)).toBe(true);

    // Gone from every list and lookup.
    expect((await call('GET', `/v1/contacts/${zelda.contactId}`)).status).toBe(404);
    expect((await call('GET', `/v1/contacts/${zelda.contactId}/export`)).status).toBe(404);
    expect((await call('GET', `/v1/conversations/${zelda.conversationId}`)).status).toBe(404);
    expect((await call('GET', '/v1/conversations?q=pinewood')).body.data).toEqual([]);
    expect((await call('GET', '/v1/contacts?q=zelda')).body.data).toEqual([]);
    const otherAfter = (await call('GET', `/v1/contacts/${other.contactId}/export`)).body;
    expect({ ...otherAfter, exportedAt: null }).toEqual({ ...otherBefore, exportedAt: null });

    // A repeated request answers the record.
    expect(await call('DELETE', `/v1/contacts/${zelda.contactId}`)).toEqual({ status: 200, body: r.body });
  });

  it("sends a client resuming with an erased event's id what came after, and none of the blank rows", async () => {
    const { rows } = await client.query(`select id from events where event = 'erased' order by id`);
    expect(rows.length).toBeGreaterThan(0);
    const firstErased = Number(rows[0].id);
    const lastErased = Number(rows.at(-1).id);
    await svc.customer({ from: other.igsid, text: 'Any news on the blue mug?' });
    const later = (e: { event: string; data: unknown }) =>
      JSON.stringify(e.data).includes('Any news on the blue mug');
    for (const from of [firstErased, lastErased]) {
      const events = await resume(from, later);
      expect(events.some(later), `resuming after ${from}`).toBe(true);
      expect(events.every((e) => e.id > from || e.event !== 'erased')).toBe(true);
      expect(events.filter((e) => e.event === 'erased' || JSON.stringify(e.data).includes('erased'))).toEqual(
        [],
      );
    }
  });

  it('lets a later message from the person make a new contact', async () => {
    await svc.customer({ from: zelda.igsid, text: 'hello again' });
    const contact = await until(
      () => call('GET', `/v1/contacts/${zelda.contactId}`),
      (r) => r.status === 200,
      'the new contact',
    );
    expect(contact.body.conversations).toHaveLength(1);
    const messages = await call('GET', `/v1/conversations/${zelda.conversationId}/messages`);
    expect(messages.body.data.map((m: { text: string }) => m.text)).toEqual(['hello again']);
  });
});
