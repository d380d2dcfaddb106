import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertJobs } from '../../src/queue/job-statements.ts';
import { listApiKeys } from '../../src/store/api-keys.ts';
import { loadChannels } from '../../src/store/channels.ts';
import { type ConversationFilter, listConversations } from '../../src/store/conversations.ts';
import { eventsAfter, lastEventId, recordEvents } from '../../src/store/events.ts';
import { type Database, openStore, type Store } from '../../src/store/index.ts';
import { listMessages } from '../../src/store/messages.ts';
import { listNotes } from '../../src/store/notes.ts';
import { SecretBox } from '../../src/store/secret-box.ts';
import { signingEndpoint } from '../../src/store/webhook-endpoints.ts';
import { storeWebhookEvent } from '../../src/store/webhook-events.ts';
import { type HookReceiver, startHookReceiver } from '../engine/flow/support.ts';
import { until } from '../send/support.ts';
import { damagePage, leavesOf } from '../support/damage.ts';
import { runIgdm } from '../support/http.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/postgres.ts';
import { callApi, igBody, mid, startTestService, type TestService, textEvent } from '../support/service.ts';

// `igdm migrate-store --to postgres://…` as a child process: a store built through the real service
// (webhooks, a second channel, tags, a note, an API key, a webhook endpoint) moves into a new
// PostgreSQL database with every row and id, which the repositories then read as they read the
// embedded store; what it refuses, and a failed copy keeping nothing.

const postgres = await postgresAvailable();

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
type Any = any;

const PASSWORD = 'hunter2-secret';
/** The database's URL with a password (trust auth ignores it), which no output may show. */
const withPassword = (url: string) => url.replace('://root@', `://root:${PASSWORD}@`);

const SHOP = {
  id: 'shop',
  name: 'Shop',
  accountId: '17841400000000555',
  accessToken: 'shop-access-token',
  appSecret: 'shop-app-secret',
  verifyToken: 'shop-verify-token',
  graphApiUrl: 'http://127.0.0.1:9',
};
const ANA = '7500000001';
const BEN = '7500000002';
const CLIO = '7500000003';

/** The embedded store's tables that are igdm's data (not the migrator's, nor SQLite's FTS5 index). */
function dataTables(file: string): string[] {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return (
      db
        .prepare(
          `select name from sqlite_master where type = 'table' and name not like 'sqlite_%'
             and name not like 'kysely_%' and name not like 'messages_fts%' order by name`,
        )
        .all() as { name: string }[]
    ).map((t) => t.name);
  } finally {
    db.close();
  }
}

/** Every row of a table, in an order both stores agree on. */
async function rowsOf(db: Kysely<Database>, table: string): Promise<string[]> {
  const { rows } = await sql.raw<Record<string, unknown>>(`select * from ${table}`).execute(db);
  // An event's writing transaction is PostgreSQL's alone (null on SQLite; store/event-log.ts).
  if (table === 'events') for (const r of rows) delete r.tx;
  return rows.map((r) => JSON.stringify(r)).sort();
}

/** The indexes and constraints of a PostgreSQL store, as PostgreSQL would make them again. */
async function structureOf(db: Kysely<Database>): Promise<string[]> {
  const { rows } = await sql<{ def: string }>`
    select pg_get_indexdef(x.indexrelid) as def from pg_index x join pg_class t on t.oid = x.indrelid
      join pg_namespace n on n.oid = t.relnamespace where n.nspname = current_schema()
    union all
    select conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(k.oid) from pg_constraint k
      join pg_namespace n on n.oid = k.connamespace where n.nspname = current_schema()`.execute(db);
  return rows.map((r) => r.def).sort();
}

/** How many tables the database at `url` has (none: nothing touched it). */
async function tablesIn(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(`select count(*)::int as n from information_schema.tables
      where table_schema = current_schema()`);
    return rows[0].n;
  } finally {
    await client.end();
  }
}

const count = async (db: Kysely<Database>, table: string) =>
  Number((await sql.raw<{ n: number }>(`select count(*) as n from ${table}`).execute(db)).rows[0]!.n);

describe.skipIf(!postgres)('igdm migrate-store', () => {
  let dir: string;
  let file: string;
  let svc: TestService;
  let hooks: HookReceiver;
  const databases: TestDatabase[] = [];
  const fresh = async () => {
    const d = await createTestDatabase();
    databases.push(d);
    return d;
  };
  const migrateStore = (to: string) => runIgdm(dir, ['migrate-store', '--to', to]);
  const admin = (method: string, path: string, body?: unknown) => callApi(svc, method, path, { body });
  const made = {} as { ana: string; keyId: string; endpointId: string; endpointSecret: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'igdm-migrate-store-'));
    file = join(dir, 'igdm.sqlite');
    hooks = await startHookReceiver();
    svc = await startTestService({}, dir);
    expect((await admin('POST', '/v1/channels', SHOP)).status).toBe(201);
    const endpoint = await admin('POST', '/v1/webhook-endpoints', { url: hooks.url, events: ['*'] });
    expect(endpoint.status).toBe(201);
    made.endpointId = endpoint.body.id;
    made.endpointSecret = endpoint.body.secret;
    made.keyId = (await admin('POST', '/v1/api-keys', { name: 'inbox' })).body.id;
    // One conversation's messages a millisecond apart, in the order they are listed.
    const at = Date.now();
    const picture = {
      sender: { id: ANA },
      recipient: { id: '17841400000000001' },
      timestamp: at + 1,
      message: { mid: mid(), attachments: [{ type: 'image', payload: { url: `${hooks.url}/p.png` } }] },
    };
    for (const body of [
      igBody([textEvent(ANA, 'Do you ship to Lisbon?', { timestamp: at })]),
      igBody([picture]),
      igBody([textEvent(BEN, 'Where is my order?', { timestamp: at + 2 })]),
      igBody([textEvent(ANA, 'Thanks!', { timestamp: at + 3 })]),
    ])
      expect((await svc.post(body)).status).toBe(200);
    const shopEvent = { ...textEvent(CLIO, 'hello shop'), recipient: { id: SHOP.accountId } };
    const shopPost = await svc.post(igBody([shopEvent], SHOP.accountId), {
      path: '/webhooks/instagram/shop',
      secret: SHOP.appSecret,
    });
    expect(shopPost.status).toBe(200);
    await svc.settled();
    const list = (await admin('GET', '/v1/conversations')).body.data as Any[];
    made.ana = list.find((c) => c.igsid === ANA).id;
    expect((await admin('PATCH', `/v1/conversations/${made.ana}`, { tags: ['vip'] })).status).toBe(200);
    expect(
      (await admin('POST', `/v1/conversations/${made.ana}/notes`, { text: 'wants it by Friday' })).status,
    ).toBe(201);
    await until(
      () => admin('GET', `/v1/webhook-endpoints/${made.endpointId}/deliveries`),
      (r) => r.body.data.length > 0,
      'a delivery to the endpoint',
    );
  });

  afterAll(async () => {
    await svc?.stop();
    await hooks?.close();
    for (const d of databases) await d.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses the store while a running igdm uses it, before touching PostgreSQL', async () => {
    const { url } = await fresh();
    const run = await migrateStore(url);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`igdm: the store ${file} is in use by`);
    expect(run.stderr).toContain('Stop that process first');
    expect(await tablesIn(url)).toBe(0);
  });

  it('moves every row with its id; the repositories read the new store as they read the old one', async () => {
    await svc.stop();
    // Retention deletes done jobs: the embedded store gave ids past the highest one left.
    const embedded = new DatabaseSync(file);
    const given = (
      embedded.prepare(`select seq from sqlite_sequence where name = 'jobs'`).get() as { seq: number }
    ).seq;
    embedded.prepare('delete from jobs where id > ?').run(given - 2);
    embedded.close();

    const { url } = await fresh();
    const run = await migrateStore(withPassword(url));
    expect(run.code, run.stderr).toBe(0);
    expect(`${run.stdout}${run.stderr}`).not.toContain(PASSWORD);
    expect(run.stdout).toMatch(
      new RegExp(
        `^igdm: moved the store at ${file} to ${url} in [\\d.]+ s: \\d+ tables, \\d+ rows \\(3 conversations, 5 messages, 3 contacts, \\d+ webhook events, 2 channels\\); the row counts of every table are equal on both sides\\n`,
      ),
    );
    expect(run.stdout).toContain(
      `encrypted with the key file ${join(dir, 'secret.key')}: run igdm on the new store with IGDM_SECRET_KEY set to that file's contents`,
    );
    expect(run.stderr).toContain(`igdm: copying `);

    const before = await openStore(`sqlite:${file}`);
    const after = await openStore(url);
    const migrated = await openStore((await fresh()).url);
    try {
      // The foreign keys and indexes set aside for the copy are back, as the migrations made them.
      const structure = await structureOf(after.db);
      expect(
        structure.some((d) => d.includes('FOREIGN KEY (conversation_id) REFERENCES conversations(id)')),
      ).toBe(true);
      expect(structure.some((d) => d.includes('messages_search'))).toBe(true);
      expect(structure).toEqual(await structureOf(migrated.db));

      const tables = dataTables(file);
      expect(tables).toContain('conversation_notes');
      for (const table of tables) {
        expect(await rowsOf(after.db, table), table).toEqual(await rowsOf(before.db, table));
      }
      await readsAlike(before, after);

      // The secrets open with the key beside the embedded store.
      const box = SecretBox.fromHexOrFile(null, join(dir, 'secret.key'));
      const shop = (await loadChannels(after.db, box)).find((c) => c.id === 'shop');
      expect(shop).toMatchObject({ accessToken: SHOP.accessToken, appSecret: SHOP.appSecret });
      const endpoint = await signingEndpoint(after.db, box, made.endpointId, Date.now());
      expect(endpoint?.secrets).toEqual([made.endpointSecret]);

      // New rows get new ids: past every copied one, and past the jobs' ids deleted before the move.
      const lastEvent = await lastEventId(before.db);
      await recordEvents(
        after.db,
        [{ event: 'test.after', channelId: 'default', conversationId: null, data: {} }],
        1,
      );
      expect(await lastEventId(after.db)).toBe(lastEvent + 1);
      // The copied events got the copy's transaction: readers find them all, in id order, then the new one.
      const untimed = await sql<{ n: number }>`select count(*) as n from events where tx is null`.execute(
        after.db,
      );
      expect(Number(untimed.rows[0]!.n)).toBe(0);
      expect((await eventsAfter(after.db, 0, 1000)).map((e) => e.id)).toEqual([
        ...(await eventsAfter(before.db, 0, 1000)).map((e) => e.id),
        lastEvent + 1,
      ]);
      const lastWebhookEvent = Number(
        (await sql<{ m: number }>`select max(id) as m from webhook_events`.execute(before.db)).rows[0]!.m,
      );
      const stored = await storeWebhookEvent(after.db, {
        dedupKey: 'after-the-move',
        channelId: 'default',
        object: 'instagram',
        source: 'messaging',
        kind: 'message',
        entryId: null,
        entryTime: null,
        igsid: ANA,
        metaTimestamp: 1,
        payload: '{}',
        receivedAt: 1,
      });
      expect(stored).toBe(lastWebhookEvent + 1);
      await after.db
        .transaction()
        .execute((trx) =>
          insertJobs(trx, [{ queue: 'test', key: 'k', orderAt: 1, dedupKey: 'test:after', payload: {} }], 1),
        );
      const job = await sql<{ id: number }>`select id from jobs where queue = 'test'`.execute(after.db);
      expect(job.rows[0]!.id).toBe(given + 1);
    } finally {
      await migrated.close();
      await after.close();
      await before.close();
    }
  });

  it('refuses a database that holds igdm data already, naming the fix, and leaves it as it was', async () => {
    const { url } = await fresh();
    expect((await migrateStore(url)).code).toBe(0);
    const run = await migrateStore(withPassword(url));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(
      `igdm: the database at ${url} already holds igdm data (rows in api_keys, channel_tokens, channels, `,
    );
    expect(run.stderr).toContain('migrate-store fills an empty database only: create one (createdb NAME)');
    expect(run.stderr).not.toContain(PASSWORD);
    const store = await openStore(url);
    try {
      expect(await count(store.db, 'messages')).toBe(5);
    } finally {
      await store.close();
    }
  });

  it('refuses a target that is not PostgreSQL or cannot be reached, never showing its password', async () => {
    const notPostgres = await migrateStore(`mysql://root:${PASSWORD}@127.0.0.1/igdm`);
    expect(notPostgres.code).toBe(2);
    expect(notPostgres.stderr).toContain('igdm: --to must name a PostgreSQL database (postgres://...)');
    const unreachable = await migrateStore(`postgres://root:${PASSWORD}@127.0.0.1:9/igdm`);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain(
      'igdm: could not open the database at postgres://root@127.0.0.1:9/igdm: connect ECONNREFUSED',
    );
    const malformed = await migrateStore(`postgres://root:${PASSWORD}@127.0.0.1:port/igdm`);
    expect(malformed.code).toBe(1);
    for (const run of [notPostgres, unreachable, malformed]) {
      expect(`${run.stdout}${run.stderr}`).not.toContain(PASSWORD);
    }
    const none = await runIgdm(dir, ['migrate-store']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: igdm migrate-store --to postgres://');
    const fromPostgres = await runIgdm(dir, ['migrate-store', '--to', 'postgres://root@127.0.0.1/x'], {
      DATABASE_URL: 'postgres://root@127.0.0.1/y',
    });
    expect(fromPostgres.code).toBe(2);
    expect(fromPostgres.stderr).toContain('moves the embedded store (DATABASE_URL=sqlite:PATH)');
  });

  it('refuses a damaged store, before touching PostgreSQL', async () => {
    const { url } = await fresh();
    const pages = leavesOf(file, 'messages');
    const restore = damagePage(file, pages[pages.length - 1]!);
    try {
      const run = await migrateStore(url);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`igdm: the store ${file} is damaged (PRAGMA quick_check:`);
      expect(await tablesIn(url)).toBe(0);
    } finally {
      restore();
    }
  });

  it('keeps nothing when the copy fails part way, and the same database takes the store after', async () => {
    const { url } = await fresh();
    const store = await openStore(url);
    // The messages come after the channels, contacts and conversations: a refusal there is mid-copy.
    await sql`create function refuse() returns trigger language plpgsql as $$
      begin raise exception 'refused by the test'; end $$`.execute(store.db);
    await sql`create trigger refuse before insert on messages for each row
      when (new.text = 'Thanks!') execute function refuse()`.execute(store.db);
    try {
      const run = await migrateStore(withPassword(url));
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`igdm: the copy to ${url} failed: refused by the test; nothing was kept`);
      expect(run.stdout).toBe('');
      for (const table of dataTables(file)) expect(await count(store.db, table), table).toBe(0);
      await sql`drop trigger refuse on messages`.execute(store.db);
      const again = await migrateStore(url);
      expect(again.code, again.stderr).toBe(0);
      expect(await count(store.db, 'messages')).toBe(5);
    } finally {
      await store.close();
    }
  });

  it('refuses a copy whose counts differ, naming the table, and keeps nothing', async () => {
    const { url } = await fresh();
    const store = await openStore(url);
    // A rule of the target's that drops rows silently: the counts find it.
    await sql`create function skip() returns trigger language plpgsql as $$ begin return null; end $$`.execute(
      store.db,
    );
    await sql`create trigger skip before insert on conversation_notes for each row execute function skip()`.execute(
      store.db,
    );
    try {
      const run = await migrateStore(url);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        'igdm: the copy is refused: the row counts differ (conversation_notes: 1 in the embedded store, 0 in PostgreSQL); nothing was kept',
      );
      for (const table of dataTables(file)) expect(await count(store.db, table), table).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('refuses a database whose schema is not the migrations’, naming the difference', async () => {
    const { url } = await fresh();
    const store = await openStore(url);
    await sql`alter table conversation_notes add column pinned bigint`.execute(store.db);
    await sql`alter table contacts alter column name type bigint using null`.execute(store.db);
    try {
      const run = await migrateStore(url);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        "igdm: the two stores' schemas differ, so nothing was copied: column contacts.name is TEXT in SQLite, bigint in PostgreSQL; column conversation_notes.pinned is in PostgreSQL only.",
      );
      for (const table of dataTables(file)) expect(await count(store.db, table), table).toBe(0);
    } finally {
      await store.close();
    }
  });

  /** The repositories give the same answers on both stores: conversations, search, tags, messages, notes, events, keys. */
  async function readsAlike(before: Store, after: Store) {
    const both = async <T>(read: (db: Kysely<Database>) => Promise<T>) => {
      const [a, b] = [await read(before.db), await read(after.db)];
      expect(b).toEqual(a);
      return b;
    };
    // The newest message comes as JSON text, spaced differently by each store's JSON functions.
    const conversations = async (db: Kysely<Database>, filter: ConversationFilter) =>
      (await listConversations(db, { ...filter, limit: 10 })).rows.map((c) => ({
        ...c,
        lastMessage: c.lastMessage === null ? null : JSON.parse(c.lastMessage),
      }));
    const all = await both((db) => conversations(db, {}));
    expect(all.map((c) => c.igsid).sort()).toEqual([ANA, BEN, CLIO]);
    const found = await both((db) => conversations(db, { q: 'lisbon' }));
    expect(found.map((c) => c.id)).toEqual([made.ana]);
    const tagged = await both((db) => conversations(db, { tag: 'vip' }));
    expect(tagged.map((c) => c.id)).toEqual([made.ana]);
    const messages = await both((db) => listMessages(db, made.ana, { order: 'asc', limit: 10 }));
    expect(messages.rows.map((m) => m.text)).toEqual(['Do you ship to Lisbon?', null, 'Thanks!']);
    expect(JSON.parse(messages.rows[1]!.attachments)).toEqual([
      expect.objectContaining({ type: 'image', url: `${hooks.url}/p.png` }),
    ]);
    const notes = await both((db) => listNotes(db, made.ana));
    expect(notes.map((n) => n.text)).toEqual(['wants it by Friday']);
    const events = await both((db) => eventsAfter(db, 0, 1000));
    expect(events.map((e) => e.event)).toContain('message.received');
    const keys = await both((db) => listApiKeys(db));
    expect(keys.map((k) => k.id)).toContain(made.keyId);
  }
});
