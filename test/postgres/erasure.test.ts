import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversationIdOf } from '../../src/store/ids.ts';
import { type SandboxService, startSandboxService, until } from '../send/support.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/postgres.ts';
import { API_KEY } from '../support/service.ts';

// Contact erasure (DELETE /v1/contacts/:id) with the service on PostgreSQL: a customer writes text,
// sends a photo, mentions the account in a story, comments and reacts to a reply; an agent notes
// and tags the conversation; one reply waits in the outbox; an endpoint echoes her events back.
// After the erasure no table's row holds her IGSID, name or words, the event log's rows about her
// are blanked (ids kept, so a client resuming with one of their ids still gets what follows), a
// record with counts stays, and another customer's data is untouched.

const postgres = await postgresAvailable();

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
type Answer = { status: number; body: any };

describe.skipIf(!postgres)('contact erasure on PostgreSQL', () => {
  let database: TestDatabase;
  let dataDir: string;
  let svc: SandboxService;
  let echo: Server;
  let client: pg.Client;
  let zelda: { igsid: string; contactId: string; conversationId: string };
  let other: { igsid: string; contactId: string };

  const call = async (method: string, path: string): Promise<Answer> => {
    const r = await svc.json(path, { method });
    return { status: r.status, body: r.body };
  };
  /** Erased once nothing is in flight (a 409 `contact_busy` is answered meanwhile). */
  const erase = (contactId: string) =>
    until(
      async () => {
        const r = await call('DELETE', `/v1/contacts/${contactId}`);
        if (r.status === 409) expect(r.body.error.code).toBe('contact_busy');
        return r;
      },
      (r) => r.status !== 409,
      'the erasure',
      10_000,
    );
  /** The tables (every one in the database) holding a row whose text contains `text` (any case). */
  const tablesHolding = async (text: string) => {
    const { rows: tables } = await client.query<{ name: string }>(
      `select table_name as name from information_schema.tables
       where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1`,
    );
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['contacts', 'events', 'jobs']));
    const holding: string[] = [];
    for (const { name } of tables) {
      const { rows } = await client.query(
        `select count(*)::int as n from "${name}" t where lower(row_to_json(t)::text) like $1`,
        [`%${text.toLowerCase()}%`],
      );
      if (rows[0].n > 0) holding.push(name);
    }
    return holding;
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
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const timer = setTimeout(() => abort.abort(), 10_000);
    let buffer = '';
    try {
      while (!events.some(last)) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const lines = buffer.slice(0, end).split('\n');
          buffer = buffer.slice(end + 2);
          const id = lines.find((l) => l.startsWith('id: '))?.slice(4);
          const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
          if (id !== undefined && data !== undefined) {
            const e = JSON.parse(data) as { event: string; data: unknown };
            events.push({ id: Number(id), event: e.event, data: e.data });
          }
        }
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
    // A webhook receiver that answers with what it got: the delivery log holds her words too.
    echo = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      res.writeHead(200).end(Buffer.concat(chunks));
    });
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    const hooked = await svc.json('/v1/webhook-endpoints', {
      body: {
        url: `http://127.0.0.1:${(echo.address() as AddressInfo).port}/`,
        events: ['message.received'],
      },
    });
    expect(hooked.status).toBe(201);

    const { igsid } = await svc.customer({
      from: 'Zelda Quarrington',
      text: 'Please ship to 12 Pinewood Lane',
    });
    const conversationId = conversationIdOf('default', igsid);
    const conversation = await until(
      () => svc.json(`/v1/conversations/${conversationId}`),
      (r) => r.body?.contact?.name === 'Zelda Quarrington',
      'her profile',
    );
    zelda = { igsid, conversationId, contactId: conversation.body.contact.id };
    await svc.customer({
      from: igsid,
      attachments: [{ type: 'image', url: 'https://cdn.example.com/zelda-passport.jpg' }],
    });
    await svc.customer({ from: igsid, storyMention: { url: 'https://cdn.example.com/zelda-story.mp4' } });
    await svc.customer({ from: igsid, comment: { text: 'Zelda loves this Pinewood mug' } });
    const reply = await svc.send({
      to: igsid,
      content: { type: 'text', text: 'Shipping to Pinewood Lane today' },
    });
    expect(reply.status, JSON.stringify(reply.body)).toBe(202);
    const sent = await svc.waitMessage(reply.body.id);
    await svc.customer({ from: igsid, reaction: { mid: sent.mid, reaction: 'love' } });
    expect(
      (
        await svc.json(`/v1/conversations/${conversationId}/notes`, {
          body: { text: 'Zelda prefers calls after 6pm' },
        })
      ).status,
    ).toBe(201);
    const patched = await svc.json(`/v1/conversations/${conversationId}`, {
      method: 'PATCH',
      body: { tags: ['vip-zelda'], assignee: 'Maria' },
    });
    expect(patched.status).toBe(200);

    const o = await svc.customer({ from: 'Otto Brandt', text: 'Is the blue mug in stock?' });
    const oc = await until(
      () => svc.json(`/v1/conversations/${conversationIdOf('default', o.igsid)}`),
      (r) => r.status === 200,
      'the other conversation',
    );
    other = { igsid: o.igsid, contactId: oc.body.contact.id };
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
    expect(await tablesHolding(zelda.igsid)).toEqual(
      expect.arrayContaining(['contacts', 'conversations', 'webhook_events', 'events', 'outbox', 'comments']),
    );
    expect(await tablesHolding('pinewood')).toEqual(expect.arrayContaining(['messages', 'webhook_attempts']));
    const erasedIds = (before.events as { id: string }[]).map((e) => Number(e.id));

    const r = await erase(zelda.contactId);
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
    for (const marker of [zelda.igsid, 'zelda', 'pinewood', 'passport', 'after 6pm'])
      expect(await tablesHolding(marker), marker).toEqual([]);
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
