import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findContact, listContacts, saveProfile, unprofiledContact } from '../../src/store/contacts.ts';
import {
  addTags,
  automationView,
  findConversation,
  listConversations,
  markRead,
  setThreadOwner,
  updateConversation,
} from '../../src/store/conversations.ts';
import { eventById, eventsAfter, lastEventId, recordEvents } from '../../src/store/events.ts';
import type { Store, StoreKind } from '../../src/store/index.ts';
import { findMessage, lastTurns, listMessages, setAuthor } from '../../src/store/messages.ts';
import { addNote } from '../../src/store/notes.ts';
import {
  attemptsOf,
  getDelivery,
  insertDeliveries,
  pruneDeliveries,
  recordAttempt,
} from '../../src/store/webhook-deliveries.ts';
import {
  listWebhookEvents,
  rawEventOf,
  retryUnapplied,
  storedEvent,
  storeWebhookEvent,
} from '../../src/store/webhook-events.ts';
import { postgresAvailable } from '../support/postgres.ts';
import { addChannel, addCustomer, addMessage, emptyStore, uid } from '../support/stores.ts';

// The repositories (src/store/*.ts) on both stores: the same calls give the same answers on the
// embedded store and on PostgreSQL. Each kind gets an empty store (on PostgreSQL, a database of its
// own); each test works in a channel of its own.

const kinds: StoreKind[] = (await postgresAvailable()) ? ['sqlite', 'postgres'] : ['sqlite'];

describe.each(kinds)('the repositories on %s', (kind) => {
  let store: Store;
  let remove: () => Promise<void>;
  beforeAll(async () => {
    ({ store, remove } = await emptyStore(kind));
  });
  afterAll(() => remove());
  const db = () => store.db;
  /**
   * The log's rows after `before`, once `n` of them show. On PostgreSQL a row shows once every
   * older writing transaction on the server has ended, other test files' too (docs/postgres.md,
   * the event log's cursor).
   */
  // The events of one channel after `before`. On PostgreSQL the log's readers wait for the oldest
  // transaction of the server, another database's too: where `before` lies depends on what else runs
  // on it, so another test's events can follow it (the stream keeps its snapshot; this reads by id).
  const logAfter = async (before: number, n: number, channelId: string) => {
    for (const deadline = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 20))) {
      const events = (await eventsAfter(db(), before, 100)).filter((e) => e.channelId === channelId);
      if (events.length >= n || Date.now() > deadline) return events;
    }
  };

  describe('contacts', () => {
    it('keeps a contact first seen once, saves its profile, finds it by part of a name in any case', async () => {
      const channelId = await addChannel(db());
      const { contactId } = await addCustomer(db(), channelId, 1000);
      await addCustomer(db(), channelId, 2000);
      expect(await unprofiledContact(db(), contactId)).toMatchObject({ id: contactId, channelId });
      await saveProfile(db(), contactId, { username: 'ana_50%', name: 'Ana Lima', profilePic: null }, 3000);
      expect(await unprofiledContact(db(), contactId)).toBeUndefined();
      expect(await findContact(db(), contactId)).toMatchObject({
        id: contactId,
        username: 'ana_50%',
        name: 'Ana Lima',
        profileCheckedAt: 3000,
        createdAt: 1000,
        updatedAt: 3000,
      });
      const found = async (q: string) =>
        (await listContacts(db(), { channelId, q, limit: 10 })).rows.map((c) => c.id);
      expect(await found('LIMA')).toEqual([contactId]);
      expect(await found('50%')).toEqual([contactId]); // `%` is itself, not a wildcard
      expect(await found('a%')).toEqual([]);
      expect(await found('nobody')).toEqual([]);
    });

    it('lists newest first, a page at a time', async () => {
      const channelId = await addChannel(db());
      const ids = [];
      for (const at of [1000, 2000, 3000]) ids.push((await addCustomer(db(), channelId, at)).contactId);
      const first = await listContacts(db(), { channelId, limit: 2 });
      expect(first.rows.map((c) => c.id)).toEqual([ids[2], ids[1]]);
      expect(first.more).toBe(true);
      const next = await listContacts(db(), { channelId, limit: 2, after: [2000, ids[1]!] });
      expect(next).toEqual({ rows: [expect.objectContaining({ id: ids[0] })], more: false });
      expect((await listContacts(db(), { channelIds: [], limit: 2 })).rows).toEqual([]);
    });
  });

  describe('conversations', () => {
    it('shows a conversation with its contact, unread count, notes and newest message', async () => {
      const channelId = await addChannel(db());
      const c = await addCustomer(db(), channelId, 1000);
      await saveProfile(db(), c.contactId, { username: 'ana', name: null, profilePic: null }, 1000);
      await addMessage(db(), channelId, c.conversationId, { createdAt: 1100, text: 'hi' });
      await addMessage(db(), channelId, c.conversationId, { createdAt: 1200, text: 'anyone?' });
      const last = await addMessage(db(), channelId, c.conversationId, {
        createdAt: 1300,
        direction: 'outbound',
        text: 'Yes! "Here"',
        status: 'sent',
      });
      await addNote(db(), c.conversationId, { text: 'VIP', author: 'kim' }, 1400);
      const found = await findConversation(db(), c.conversationId);
      expect(found).toMatchObject({
        id: c.conversationId,
        channelId,
        contactId: c.contactId,
        status: 'open',
        threadOwner: 'bot',
        lastMessageAt: 1000,
        username: 'ana',
        unread: 2,
        notesCount: 1,
        tags: '[]',
      });
      expect(JSON.parse(found!.lastMessage!)).toEqual({
        id: last,
        direction: 'outbound',
        type: 'text',
        text: 'Yes! "Here"',
        deletedAt: null,
        createdAt: 1300,
      });
    });

    it('marks read up to the newest inbound message, forward only', async () => {
      const channelId = await addChannel(db());
      const c = await addCustomer(db(), channelId, 1000);
      await addMessage(db(), channelId, c.conversationId, { createdAt: 1100 });
      await addMessage(db(), channelId, c.conversationId, { createdAt: 1200 });
      await addMessage(db(), channelId, c.conversationId, { createdAt: 1300, direction: 'outbound' });
      expect(await markRead(db(), c.conversationId, 2000)).toBe(true);
      expect(await findConversation(db(), c.conversationId)).toMatchObject({
        agentReadUpTo: 1200,
        unread: 0,
      });
      await addMessage(db(), channelId, c.conversationId, { createdAt: 1150 }); // late, already read
      await db()
        .updateTable('conversations')
        .set({ agentReadUpTo: 5000 })
        .where('id', '=', c.conversationId)
        .execute();
      await markRead(db(), c.conversationId, 2100);
      expect(await findConversation(db(), c.conversationId)).toMatchObject({ agentReadUpTo: 5000 });
      // Nothing inbound: the mark stays unset.
      const quiet = await addCustomer(db(), channelId, 1000);
      expect(await markRead(db(), quiet.conversationId, 2000)).toBe(true);
      expect(await findConversation(db(), quiet.conversationId)).toMatchObject({ agentReadUpTo: null });
      expect(await markRead(db(), 'cnv_missing', 2000)).toBe(false);
    });

    it('records each change as conversation.updated, in the change’s transaction', async () => {
      const channelId = await addChannel(db());
      const { conversationId } = await addCustomer(db(), channelId, 1000);
      const before = await lastEventId(db());
      const change = { status: 'resolved', tags: ['vip', 'b', 'vip'], assignee: 'kim' } as const;
      expect(
        await updateConversation(db(), conversationId, { ...change, tags: [...change.tags] }, 2000),
      ).toBe(true);
      expect(await updateConversation(db(), 'cnv_missing', { status: 'open' }, 2000)).toBe(false);
      expect(await addTags(db(), conversationId, ['c', 'vip'], 2100)).toEqual(['vip', 'b', 'c']);
      expect(await setThreadOwner(db(), conversationId, 'human', 2200)).toBe(true);
      expect(await setThreadOwner(db(), conversationId, 'human', 2300)).toBe(false);
      const events = await logAfter(before, 3, channelId);
      expect(events.map((e) => [e.event, e.conversationId, e.data, e.createdAt])).toEqual([
        [
          'conversation.updated',
          conversationId,
          { conversationId, status: 'resolved', tags: ['vip', 'b'], assignee: 'kim' },
          2000,
        ],
        ['conversation.updated', conversationId, { conversationId, tags: ['vip', 'b', 'c'] }, 2100],
        ['conversation.updated', conversationId, { conversationId, threadOwner: 'human' }, 2200],
      ]);
      expect(await findConversation(db(), conversationId)).toMatchObject({
        status: 'resolved',
        assignee: 'kim',
        threadOwner: 'human',
        tags: '["vip","b","c"]',
        updatedAt: 2200,
      });
    });

    it('lists newest activity first, filtered by status, owner, assignee, tag and unread', async () => {
      const channelId = await addChannel(db());
      const [a, b, c] = [
        await addCustomer(db(), channelId, 1000),
        await addCustomer(db(), channelId, 3000),
        await addCustomer(db(), channelId, 2000),
      ];
      await updateConversation(db(), a!.conversationId, { tags: ['vip'], assignee: 'kim' }, 4000);
      await updateConversation(db(), b!.conversationId, { status: 'resolved', tags: ['vipper'] }, 4000);
      await setThreadOwner(db(), c!.conversationId, 'human', 4000);
      await addMessage(db(), channelId, c!.conversationId, { createdAt: 2500 });
      const ids = async (f: Omit<Parameters<typeof listConversations>[1], 'limit'> = {}) =>
        (await listConversations(db(), { channelId, limit: 10, ...f })).rows.map((r) => r.id);
      const [A, B, C] = [a!.conversationId, b!.conversationId, c!.conversationId];
      expect(await ids()).toEqual([B, C, A]);
      expect(await ids({ status: 'open' })).toEqual([C, A]);
      expect(await ids({ threadOwner: 'human' })).toEqual([C]);
      expect(await ids({ assignee: 'kim' })).toEqual([A]);
      expect(await ids({ assignee: null })).toEqual([B, C]);
      expect(await ids({ tag: 'vip' })).toEqual([A]);
      expect(await ids({ unread: true })).toEqual([C]);
      expect(await ids({ unread: false })).toEqual([B, A]);
      const page = await listConversations(db(), { channelId, limit: 1, after: [3000, B] });
      expect(page).toMatchObject({ rows: [{ id: C }], more: true });
      expect(await ids({ channelId: undefined, channelIds: [channelId] })).toEqual([B, C, A]);
    });

    it('searches messages by word: prefixes, any case, without diacritics, every word, never a deleted one', async () => {
      const channelId = await addChannel(db());
      const [a, b] = [await addCustomer(db(), channelId, 1000), await addCustomer(db(), channelId, 2000)];
      await addMessage(db(), channelId, a!.conversationId, {
        createdAt: 1100,
        text: 'Café au lait, shipped to Lisbon',
      });
      await addMessage(db(), channelId, b!.conversationId, { createdAt: 2100, text: 'Where is my ORDER?' });
      const typo = await addMessage(db(), channelId, b!.conversationId, {
        createdAt: 2200,
        text: 'ordr 1234',
      });
      await addMessage(db(), channelId, b!.conversationId, {
        createdAt: 2300,
        text: 'my secret password',
        deletedAt: 2400,
      });
      const [A, B] = [a!.conversationId, b!.conversationId];
      const search = async (q: string) =>
        (await listConversations(db(), { channelId, q, limit: 10 })).rows.map((r) => r.id);
      expect(await search('cafe')).toEqual([A]);
      expect(await search('CAFÉ')).toEqual([A]);
      expect(await search('ship')).toEqual([A]);
      expect(await search('lisbon ship')).toEqual([A]);
      expect(await search('order')).toEqual([B]);
      expect(await search('ship order')).toEqual([]); // every word, in one message
      expect(await search('secret')).toEqual([]);
      expect(await search('"order" OR NEAR(')).toEqual([]); // operators are words like any other
      expect(await search('?!')).toEqual([]);
      expect(await search('123')).toEqual([B]);
      // An edited message is found by its new text only; one deleted (unsent) no longer.
      await db().updateTable('messages').set({ text: 'parcel 1234' }).where('id', '=', typo).execute();
      expect(await search('ordr')).toEqual([]);
      expect(await search('parcel')).toEqual([B]);
      await db().updateTable('messages').set({ deletedAt: 3000 }).where('id', '=', typo).execute();
      expect(await search('parcel')).toEqual([]);
    });
  });

  describe('messages', () => {
    it('lists a conversation’s messages in time order, a page at a time, and as the AI reads them', async () => {
      const channelId = await addChannel(db());
      const { conversationId } = await addCustomer(db(), channelId, 1000);
      const m1 = await addMessage(db(), channelId, conversationId, { createdAt: 1100, text: 'one' });
      const m2 = await addMessage(db(), channelId, conversationId, {
        createdAt: 1200,
        text: 'two',
        direction: 'outbound',
        status: 'sent',
      });
      await addMessage(db(), channelId, conversationId, { createdAt: 1300, text: 'gone', deletedAt: 1350 });
      await addMessage(db(), channelId, conversationId, {
        createdAt: 1400,
        text: 'failed',
        direction: 'outbound',
        status: 'failed',
      });
      const m5 = await addMessage(db(), channelId, conversationId, { createdAt: 1500, text: 'five' });
      const asc = await listMessages(db(), conversationId, { order: 'asc', limit: 2 });
      expect(asc).toMatchObject({ rows: [{ id: m1, createdAt: 1100, isEcho: 0 }, { id: m2 }], more: true });
      const desc = await listMessages(db(), conversationId, { order: 'desc', limit: 10, after: [1500, m5] });
      expect(desc.rows.map((m) => m.text)).toEqual(['failed', 'gone', 'two', 'one']);
      expect(await lastTurns(db(), conversationId, 1200, 10)).toEqual([
        { direction: 'inbound', type: 'text', text: 'one' },
        { direction: 'outbound', type: 'text', text: 'two' },
      ]);
      expect((await automationView(db(), conversationId, 1100))?.wroteBefore).toBe(false);
      expect((await automationView(db(), conversationId, 1101))?.wroteBefore).toBe(true);
      await setAuthor(db(), m2, 'human', 1600);
      expect(await findMessage(db(), m2)).toMatchObject({
        author: 'human',
        updatedAt: 1600,
        deletedAt: null,
      });
      expect(await findMessage(db(), 'msg_missing')).toBeUndefined();
    });
  });

  describe('the event log', () => {
    it('appends events once per dedup key and reads them back in order', async () => {
      const channelId = await addChannel(db());
      const before = await lastEventId(db());
      const event = (n: number, dedupKey: string | null) => ({
        event: 'message.received',
        channelId,
        conversationId: null,
        data: { n, nested: { ok: true } },
        dedupKey,
      });
      await db()
        .transaction()
        .execute((trx) => recordEvents(trx, [event(1, `k1${channelId}`), event(2, null)], 5000));
      await recordEvents(db(), [event(3, `k1${channelId}`)], 5001); // a replay adds it once
      const after = await logAfter(before, 2, channelId);
      expect(after.map((e) => [e.data, e.createdAt])).toEqual([
        [{ n: 1, nested: { ok: true } }, 5000],
        [{ n: 2, nested: { ok: true } }, 5000],
      ]);
      expect(after[1]!.id).toBeGreaterThan(after[0]!.id);
      expect(await lastEventId(db())).toBe(after[1]!.id);
      expect(await eventById(db(), after[0]!.id)).toEqual(after[0]);
      expect(await eventById(db(), after[1]!.id + 1)).toBeNull();
    });
  });

  describe('webhook events', () => {
    it('stores an event once per dedup key, reads it back, lists what became of it', async () => {
      const channelId = await addChannel(db());
      const stored = async (n: number) =>
        storeWebhookEvent(db(), {
          dedupKey: `${channelId}:${n}`,
          channelId,
          object: 'instagram',
          source: 'messaging',
          kind: 'message',
          entryId: 'acct',
          entryTime: 1_700_000_000_000 + n,
          igsid: uid('igsid'),
          metaTimestamp: 1_700_000_000_000 + n,
          payload: JSON.stringify({ message: { mid: `m${n}`, text: 'hé' } }),
          receivedAt: 1_700_000_000_500 + n,
        });
      const ids = [await stored(1), await stored(2), await stored(3)];
      expect(await stored(1)).toBeNull();
      const [one, two, three] = ids as number[];
      expect(await storedEvent(db(), one!)).toEqual({
        id: one,
        dedupKey: `${channelId}:1`,
        channelId,
        object: 'instagram',
        source: 'messaging',
        entryId: 'acct',
        entryTime: 1_700_000_000_001,
        payload: '{"message":{"mid":"m1","text":"hé"}}',
        receivedAt: 1_700_000_000_501,
        backfilled: 0,
      });
      expect(rawEventOf((await storedEvent(db(), one!))!).payload).toEqual({
        message: { mid: 'm1', text: 'hé' },
      });
      // What the projector records of each; one still waits.
      const outcome = (id: number, applyStatus: 'applied' | 'unapplied', applyError: string | null) =>
        db()
          .updateTable('webhookEvents')
          .set({ appliedAt: 9000, applyStatus, applyError })
          .where('id', '=', id)
          .execute();
      await outcome(one!, 'applied', null);
      await outcome(two!, 'unapplied', 'no such kind');
      const list = async (status?: 'applied' | 'unapplied') =>
        (await listWebhookEvents(db(), { status, channelIds: [channelId], limit: 10 })).rows.map((e) => [
          e.id,
          e.applyStatus,
          e.applyError,
        ]);
      expect(await list()).toEqual([
        [two, 'unapplied', 'no such kind'],
        [one, 'applied', null],
      ]);
      expect(await list('unapplied')).toEqual([[two, 'unapplied', 'no such kind']]);
      expect(await retryUnapplied(db())).toBe(1);
      expect(await list()).toEqual([[one, 'applied', null]]);
      expect(three).toBeGreaterThan(two!);
    });
  });

  describe('webhook deliveries', () => {
    it('reads each delivery’s attempts, and leaves out one deleted since its row was read', async () => {
      const channelId = await addChannel(db());
      const made = async (n: number) =>
        (
          await insertDeliveries(
            db(),
            [
              {
                endpointId: null,
                rule: 'r',
                url: 'https://example.com/hook',
                eventId: null,
                event: 'message.received',
                channelId,
                conversationId: null,
                webhookId: `wh_${channelId}_${n}`,
                body: '{}',
                dedupKey: `${channelId}:${n}`,
                retryUntil: 2_000,
              },
            ],
            1_000,
          )
        )[0]!;
      const [tried, untried] = [await made(1), await made(2)];
      const attempt = { attempt: 1, at: 1_100, status: 200, error: null, response: 'ok', durationMs: 5 };
      await recordAttempt(db(), tried, attempt, { status: 'succeeded', nextAttemptAt: null });
      const read = [(await getDelivery(db(), tried))!, (await getDelivery(db(), untried))!];
      expect(read.map((d) => d.attempts)).toEqual([1, 0]);
      expect(Object.fromEntries(await attemptsOf(db(), read))).toEqual({ [tried]: [attempt], [untried]: [] });
      // The settled one pruned after its row was read (its attempts go with it); the pending one stays.
      expect(await pruneDeliveries(db(), 1_200)).toBe(1);
      expect(await attemptsOf(db(), read)).toEqual(new Map([[untried, []]]));
    });
  });
});
