import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxService, startSandboxService, until } from '../send/support.ts';
import {
  type Answer,
  type Customers,
  eraseWhenIdle,
  expectErased,
  seedCustomers,
  tablesHolding,
} from '../support/erasure.ts';
import { describeOnSqlite, sqliteStoreOf } from '../support/service.ts';

// A contact's data, exported and erased (GET /v1/contacts/:id/export, DELETE /v1/contacts/:id),
// against the sandbox: a customer writes text, sends a photo, mentions the account in a story,
// comments on a post and reacts to a reply; agents note and tag the conversation; one reply waits in
// the outbox. The export holds all of it; after the erasure no row of the store names them, the
// search finds nothing, a record of the erasure stays, and another customer's data is untouched.

let svc: SandboxService;
let echo: Server;
let zelda: Customers['zelda'];
let other: Customers['other'];
/** Keys: read only; admin limited to `default`, belonging to an agent; any scope for another channel. */
const keys = { read: '', privacy: '', privacyKeyId: '', elsewhere: '' };

async function call(key: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${svc.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

beforeAll(async () => {
  svc = await startSandboxService();
  const admin = (method: string, path: string, body?: unknown) => svc.json(path, { method, body });
  expect(
    (
      await admin('POST', '/v1/channels', {
        id: 'shop',
        name: 'Shop',
        accountId: '17841400000000333',
        accessToken: 'shop-access-token',
        appSecret: 'shop-app-secret',
        verifyToken: 'shop-verify-token',
        graphApiUrl: 'http://127.0.0.1:9',
      })
    ).status,
  ).toBe(201);
  const key = async (fields: Record<string, unknown>) => {
    const r = await admin('POST', '/v1/api-keys', { name: 'test key', ...fields });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body;
  };
  keys.read = (await key({ scopes: ['read'] })).key;
  const privacy = await key({ scopes: ['read', 'admin'], channels: ['default'], agent: 'Dora' });
  keys.privacy = privacy.key;
  keys.privacyKeyId = privacy.id;
  keys.elsewhere = (await key({ scopes: ['read', 'send', 'admin'], channels: ['shop'] })).key;
  ({ zelda, other, echo } = await seedCustomers(svc));
});
afterAll(async () => {
  await svc.stop();
  echo.closeAllConnections();
  echo.close();
});

describe('GET /v1/contacts/:id/export', () => {
  it('holds everything igdm has about the contact', async () => {
    const r = await call(keys.read, 'GET', `/v1/contacts/${zelda.contactId}/export`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const e = r.body;
    expect(e.contact).toMatchObject({ id: zelda.contactId, igsid: zelda.igsid, name: 'Zelda Quarrington' });
    expect(e.conversations).toEqual([
      expect.objectContaining({
        id: zelda.conversationId,
        tags: ['vip-zelda'],
        assignee: 'Maria',
        notesCount: 1,
      }),
    ]);
    const texts = e.messages.map((m: { text: string | null }) => m.text);
    expect(texts).toEqual(
      expect.arrayContaining(['Please ship to 12 Pinewood Lane', 'Shipping to Pinewood Lane today']),
    );
    expect(e.messages.map((m: { type: string }) => m.type)).toEqual(
      expect.arrayContaining(['text', 'image', 'story_mention']),
    );
    const reply = e.messages.find((m: { text: string }) => m.text === 'Shipping to Pinewood Lane today');
    expect(reply).toMatchObject({
      direction: 'outbound',
      reactions: [expect.objectContaining({ reaction: 'love' })],
    });
    expect(e.notes.map((n: { text: string }) => n.text)).toEqual(['Zelda prefers calls after 6pm']);
    expect(e.storyMentions).toEqual([
      expect.objectContaining({ mediaUrl: 'https://cdn.example.com/zelda-story.mp4' }),
    ]);
    expect(e.comments).toEqual([expect.objectContaining({ text: 'Zelda loves this Pinewood mug' })]);
    expect(e.sends).toEqual([
      expect.objectContaining({
        messageId: reply.id,
        status: 'sent',
        body: expect.objectContaining({ recipient: { id: zelda.igsid } }),
      }),
    ]);
    expect(e.events.map((x: { event: string }) => x.event)).toEqual(
      expect.arrayContaining([
        'message.received',
        'instagram.story_mention',
        'instagram.reaction',
        'message.sent',
      ]),
    );
    expect(e.events.every((x: { conversationId: string }) => x.conversationId === zelda.conversationId)).toBe(
      true,
    );
    // Every webhook event about her, as Meta sent it: the texts, the photo, the mention, the comment,
    // the reaction and the echo of the reply.
    const payloads = JSON.stringify(e.webhookEvents.map((w: { payload: unknown }) => w.payload));
    for (const part of [
      '12 Pinewood Lane',
      'zelda-passport.jpg',
      'zelda-story.mp4',
      'Pinewood mug',
      '"love"',
    ])
      expect(payloads).toContain(part);
    expect(e.webhookEvents.map((w: { kind: string }) => w.kind)).toEqual(
      expect.arrayContaining(['message', 'comments', 'reaction', 'echo']),
    );
    // Nothing of the other customer's, and no secrets.
    const text = JSON.stringify(e);
    expect(text).not.toContain(other.igsid);
    expect(text).not.toContain('blue mug');
    expect(text).not.toMatch(/access.?token|app.?secret|shop-/i);
  });

  it("is the contact's channels' keys' only", async () => {
    const r = await call(keys.elsewhere, 'GET', `/v1/contacts/${zelda.contactId}/export`);
    expect(r).toMatchObject({ status: 404, body: { error: { code: 'contact_not_found' } } });
    expect((await call(keys.read, 'GET', '/v1/contacts/ct_nope/export')).status).toBe(404);
  });
});

describe('DELETE /v1/contacts/:id', () => {
  it("needs the admin scope, in the contact's channel", async () => {
    const read = await call(keys.read, 'DELETE', `/v1/contacts/${zelda.contactId}`);
    expect(read).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    const elsewhere = await call(keys.elsewhere, 'DELETE', `/v1/contacts/${zelda.contactId}`);
    expect(elsewhere).toMatchObject({ status: 404, body: { error: { code: 'contact_not_found' } } });
    expect((await call(keys.privacy, 'DELETE', '/v1/contacts/ct_nope')).status).toBe(404);
    // Nothing was erased.
    expect((await call(keys.read, 'GET', `/v1/contacts/${zelda.contactId}`)).status).toBe(200);
  });

  it('waits for a send to the contact whose outcome is not known yet', async () => {
    // Meta takes the message but answers late: the send is in flight meanwhile.
    await svc.inject({ kind: 'late_answer', delayMs: 3000, path: 'messages' });
    const reply = await svc.send({
      to: zelda.igsid,
      content: { type: 'text', text: 'One more Pinewood thing' },
    });
    expect(reply.status).toBe(202);
    await svc.waitOutbox(reply.body.id, (row) => row.status === 'sending');
    // Its echo has come and waits for it (a webhook event being applied would be busy too).
    await svc.sandbox!.delivery.settled();
    await svc.settled();
    // (Its echo's event may still be on its way in: busy for that reason first.)
    const busy = await until(
      () => call(keys.privacy, 'DELETE', `/v1/contacts/${zelda.contactId}`),
      (r) => r.status !== 409 || !r.body.error.message.includes('webhook event'),
      'busy with the send',
    );
    expect(busy).toMatchObject({ status: 409, body: { error: { code: 'contact_busy' } } });
    expect(busy.body.error.message).toContain('sending');
    await svc.waitMessage(reply.body.id);
    expect((await call(keys.read, 'GET', `/v1/contacts/${zelda.contactId}`)).status).toBe(200);
  });

  it('erases every row about the contact, keeps a record, and leaves the others', async () => {
    // A reply that waits in the outbox (Meta throttles the account for an hour): it will not go.
    await svc.inject({ kind: 'throttle', regainAccessMinutes: 60, path: 'messages' });
    const waiting = await svc.send({ to: zelda.igsid, content: { type: 'text', text: 'Pinewood, later' } });
    expect(waiting.status).toBe(202);
    await svc.waitOutbox(waiting.body.id, (row) => row.status === 'queued' && row.error !== null);
    const otherBefore = (await call(keys.read, 'GET', `/v1/contacts/${other.contactId}/export`)).body;
    const before = (await call(keys.read, 'GET', `/v1/contacts/${zelda.contactId}/export`)).body;
    expect(await tablesHolding(svc.store, zelda.igsid)).toEqual(
      expect.arrayContaining(['contacts', 'conversations', 'webhook_events', 'events', 'outbox', 'comments']),
    );

    const r = await eraseWhenIdle(() => call(keys.privacy, 'DELETE', `/v1/contacts/${zelda.contactId}`));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({
      id: expect.stringMatching(/^era_/),
      contactId: zelda.contactId,
      channelId: 'default',
      erasedBy: { keyId: keys.privacyKeyId, agent: 'Dora' },
      counts: {
        conversations: 1,
        notes: 1,
        storyMentions: 1,
        comments: 1,
        sends: 3,
        sendsCancelled: 1,
      },
    });
    expect(r.body.counts.webhookDeliveries).toBeGreaterThanOrEqual(3);
    // As many as the export had of each.
    expect(r.body.counts).toMatchObject({
      messages: before.messages.length,
      events: before.events.length,
      webhookEvents: before.webhookEvents.length,
    });
    // Her text, photo and mention; the three replies (her reaction is on the first).
    expect(before.messages).toHaveLength(6);

    // No row names her or holds what she wrote, said or was told.
    await expectErased(svc.store, zelda.igsid);
    const rows = await svc.store.db
      .selectFrom('outbox')
      .selectAll()
      .where('conversationId', '=', zelda.conversationId)
      .execute();
    expect(rows.map((o) => o.status).sort()).toEqual(['failed', 'sent', 'sent']);
    expect(rows.find((o) => o.status === 'failed')!.error).toContain('erased');
    expect(rows.every((o) => o.body === '{}' && o.recipient === '{}' && o.mid === null)).toBe(true);
    // The search index no longer finds her messages (SQLite's FTS5 table; PostgreSQL's index is
    // an expression over the messages' rows, checked above).
    if (svc.store.kind === 'sqlite') {
      const fts = svc.store.sqlite
        .prepare(`select rowid from messages_fts where messages_fts match 'pinewood'`)
        .all();
      expect(fts).toEqual([]);
    }
    expect((await call(keys.read, 'GET', '/v1/conversations?q=pinewood')).body.data).toEqual([]);

    // Gone from every list and lookup.
    expect((await call(keys.read, 'GET', `/v1/contacts/${zelda.contactId}`)).status).toBe(404);
    expect((await call(keys.read, 'GET', `/v1/contacts/${zelda.contactId}/export`)).status).toBe(404);
    expect((await call(keys.read, 'GET', `/v1/conversations/${zelda.conversationId}`)).status).toBe(404);
    const listed = (await call(keys.read, 'GET', '/v1/conversations?limit=200')).body.data;
    expect(listed.map((c: { igsid: string }) => c.igsid)).toEqual([other.igsid]);
    expect((await call(keys.read, 'GET', '/v1/contacts?q=zelda')).body.data).toEqual([]);

    // The other customer's data is as it was.
    const otherAfter = (await call(keys.read, 'GET', `/v1/contacts/${other.contactId}/export`)).body;
    expect({ ...otherAfter, exportedAt: null }).toEqual({ ...otherBefore, exportedAt: null });
    expect(otherAfter.messages.map((m: { text: string }) => m.text)).toEqual(['Is the blue mug in stock?']);

    // A repeated request answers the record.
    const again = await call(keys.privacy, 'DELETE', `/v1/contacts/${zelda.contactId}`);
    expect(again).toEqual({ status: 200, body: r.body });
    expect((await call(keys.elsewhere, 'DELETE', `/v1/contacts/${zelda.contactId}`)).status).toBe(404);
  });

  it('lets a later message from the person make a new contact, with their profile', async () => {
    await svc.customer({ from: zelda.igsid, text: 'hello again' });
    const contact = await until(
      () => call(keys.read, 'GET', `/v1/contacts/${zelda.contactId}`),
      (r) => r.status === 200 && r.body.name === 'Zelda Quarrington',
      'the new contact with a profile',
    );
    expect(contact.body.conversations).toHaveLength(1);
    const messages = await call(keys.read, 'GET', `/v1/conversations/${zelda.conversationId}/messages`);
    expect(messages.body.data.map((m: { text: string }) => m.text)).toEqual(['hello again']);
  });
});

// PostgreSQL keeps a deleted row's old version until VACUUM (docs/postgres.md, "Contact erasure").
describeOnSqlite('the store file', () => {
  it('keeps no bytes of what was erased (SQLite overwrites what it deletes)', async () => {
    // Every page as it is now in the file itself: the WAL, with the pages as they were, emptied.
    const checkpoint = () =>
      sqliteStoreOf(svc).sqlite.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get() as {
        busy: number;
        log: number;
      };
    await until(checkpoint, (r) => r.busy === 0 && r.log === 0, 'a checkpoint');
    const bytes = readFileSync(sqliteStoreOf(svc).sqlitePath).toString('latin1');
    expect(bytes).toContain('hello again');
    for (const marker of ['12 Pinewood Lane', 'zelda-passport', 'Zelda prefers', 'Pinewood mug'])
      expect(bytes.includes(marker), marker).toBe(false);
  });
});
