import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { expect } from 'vitest';
import { conversationIdOf } from '../../src/store/ids.ts';
import type { Store } from '../../src/store/index.ts';
import { type SandboxService, until } from '../send/support.ts';

// Contact erasure's scenario, for its suites on both stores (test/api/contact-erasure.test.ts on
// SQLite, test/postgres/erasure.test.ts on PostgreSQL): a customer, Zelda, who writes, sends a
// photo, mentions the account in a story, comments and reacts to a reply, with a note and tags on
// her conversation and an endpoint that echoes her events back; another customer whose data stays;
// and the scan of every table for what must be gone after the erasure.

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
export type Answer = { status: number; body: any };

export interface Customers {
  zelda: { igsid: string; contactId: string; conversationId: string };
  other: { igsid: string; contactId: string };
  /** The webhook receiver that answers with what it got: the delivery log holds her words too. */
  echo: Server;
}

/** The scenario, through the API with the service's admin key. */
export async function seedCustomers(svc: SandboxService): Promise<Customers> {
  const echo = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    res.writeHead(200).end(Buffer.concat(chunks));
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  const hooked = await svc.json('/v1/webhook-endpoints', {
    body: { url: `http://127.0.0.1:${(echo.address() as AddressInfo).port}/`, events: ['message.received'] },
  });
  expect(hooked.status).toBe(201);

  // The customer, and what they do.
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
  const zelda = { igsid, conversationId, contactId: conversation.body.contact.id as string };
  await svc.customer({
    from: igsid,
    attachments: [{ type: 'image', url: 'https://cdn.example.com/zelda-passport.jpg' }],
  });
  await svc.customer({ from: igsid, storyMention: { url: 'https://cdn.example.com/zelda-story.mp4' } });
  await svc.customer({ from: igsid, comment: { text: 'Zelda loves this Pinewood mug' } });

  // A reply she reacts to; a note, tags and an assignee.
  const reply = await svc.send({
    to: igsid,
    content: { type: 'text', text: 'Shipping to Pinewood Lane today' },
  });
  expect(reply.status, JSON.stringify(reply.body)).toBe(202);
  const sent = await svc.waitMessage(reply.body.id);
  await svc.customer({ from: igsid, reaction: { mid: sent.mid, reaction: 'love' } });
  const note = await svc.json(`/v1/conversations/${conversationId}/notes`, {
    body: { text: 'Zelda prefers calls after 6pm' },
  });
  expect(note.status).toBe(201);
  const patched = await svc.json(`/v1/conversations/${conversationId}`, {
    method: 'PATCH',
    body: { tags: ['vip-zelda'], assignee: 'Maria' },
  });
  expect(patched.status).toBe(200);

  // Another customer, whose data stays.
  const o = await svc.customer({ from: 'Otto Brandt', text: 'Is the blue mug in stock?' });
  const oc = await until(
    () => svc.json(`/v1/conversations/${conversationIdOf('default', o.igsid)}`),
    (r) => r.status === 200,
    'the other conversation',
  );
  return { zelda, other: { igsid: o.igsid, contactId: oc.body.contact.id }, echo };
}

/** The erasure `request` makes, once nothing is in flight (a 409 `contact_busy` is answered meanwhile). */
export function eraseWhenIdle(request: () => Promise<Answer>): Promise<Answer> {
  return until(
    async () => {
      const r = await request();
      if (r.status === 409) expect(r.body.error.code).toBe('contact_busy');
      return r;
    },
    (r) => r.status !== 409,
    'the erasure',
    10_000,
  );
}

/** The tables (every one in the store but SQLite's search index) holding a row that contains `text` (any case). */
export async function tablesHolding(store: Store, text: string): Promise<string[]> {
  const lower = text.toLowerCase();
  if (store.kind === 'sqlite') {
    const tables = store.sqlite
      .prepare(`select name from sqlite_master where type = 'table' and name not like 'messages_fts%'`)
      .all() as { name: string }[];
    return tables
      .map(({ name }) => name)
      .filter((name) =>
        store.sqlite
          .prepare(`select * from "${name}"`)
          .all()
          .some((row) => JSON.stringify(row).toLowerCase().includes(lower)),
      );
  }
  const { rows: tables } = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE' order by 1`.execute(store.db);
  expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['contacts', 'events', 'jobs']));
  const holding: string[] = [];
  for (const { name } of tables) {
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from ${sql.table(name)} t
      where lower(row_to_json(t)::text) like ${`%${lower}%`}`.execute(store.db);
    if ((rows[0]?.n ?? 0) > 0) holding.push(name);
  }
  return holding;
}

/** No row of any table names Zelda (`igsid`) or holds what she wrote, said or was told. */
export async function expectErased(store: Store, igsid: string): Promise<void> {
  for (const marker of [igsid, 'zelda', 'pinewood', 'passport', 'after 6pm'])
    expect(await tablesHolding(store, marker), marker).toEqual([]);
}
