import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/meta/signature.ts';
import { conversationIdOf } from '../../src/store/ids.ts';
import { httpRequest } from '../support/http.ts';
import {
  ACCOUNT_ID,
  APP_SECRET,
  igBody,
  mid,
  startTestService,
  type TestService,
  textEvent,
} from '../support/service.ts';

// Meta delivers at least once, and redelivers whole batches, concurrently and in any order. Every
// delivery must be answered 200, and every event stored and applied exactly once.

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});

afterAll(async () => {
  await svc?.stop();
});

let customerSeq = 0;
/** A customer no other test uses, so each test reads its own conversations. */
const customer = () => `61000000${String(++customerSeq).padStart(4, '0')}`;

type Item = Record<string, unknown>;

/** Posts every body at once; all must be acknowledged. */
async function postAll(bodies: string[], paths: string[] = ['/webhooks/meta']) {
  const responses = await Promise.all(
    bodies.map((body, i) => svc.post(body, { path: paths[i % paths.length] })),
  );
  const answers = await Promise.all(responses.map(async (r) => `${r.status} ${await r.text()}`));
  expect(answers).toEqual(bodies.map(() => '200 EVENT_RECEIVED'));
}

/** How many rows each dedup key has. */
async function rowsByKey(keys: string[]): Promise<Record<string, number>> {
  const rows = await svc.store.db
    .selectFrom('webhookEvents')
    .select(['dedupKey', (eb) => eb.fn.countAll<number>().as('n')])
    .where('dedupKey', 'in', keys)
    .groupBy('dedupKey')
    .execute();
  const counts = Object.fromEntries(keys.map((k) => [k, 0]));
  for (const r of rows) counts[r.dedupKey] = Number(r.n);
  return counts;
}

const once = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, 1]));

/** Every message of a customer's conversation, through the API, oldest first. */
async function messagesOf(igsid: string) {
  const id = conversationIdOf('default', igsid);
  const all: { mid: string; text: string | null; reactions: unknown[]; status: string }[] = [];
  let cursor: string | null = null;
  do {
    const res = await svc.api(
      `/v1/conversations/${id}/messages?order=asc&limit=200${cursor ? `&cursor=${cursor}` : ''}`,
    );
    expect(res.status).toBe(200);
    const page = (await res.json()) as { data: typeof all; nextCursor: string | null };
    all.push(...page.data);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

const midsOf = (items: Item[]) => items.map((e) => (e.message as { mid: string }).mid);

/** A deterministic shuffle (a fixed LCG), so a failure can be replayed. */
function shuffled<T>(list: T[], seed = 7): T[] {
  const out = [...list];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('dedup under concurrent redelivery', () => {
  it('stores and applies a batch once when the same signed body arrives 50 times at once', async () => {
    const [a, b] = [customer(), customer()];
    const t = Date.now();
    const items = [
      textEvent(a, 'first', { timestamp: t }),
      textEvent(b, 'hello', { timestamp: t + 1 }),
      textEvent(a, 'second', { timestamp: t + 2 }),
    ];
    const body = JSON.stringify(igBody(items));
    const before = await svc.eventCount();

    await postAll(Array.from({ length: 50 }, () => body));

    const keys = midsOf(items).map((m) => `message:${m}`);
    expect(await rowsByKey(keys)).toEqual(once(keys));
    expect((await svc.eventCount()) - before).toBe(3);
    await svc.settled();
    expect((await messagesOf(a)).map((m) => m.text)).toEqual(['first', 'second']);
    expect((await messagesOf(b)).map((m) => m.text)).toEqual(['hello']);
  });

  it('stores each event once when overlapping batches are redelivered concurrently, on both paths', async () => {
    const customers = [customer(), customer(), customer(), customer()];
    const t = Date.now();
    const items = Array.from({ length: 40 }, (_, i) =>
      textEvent(customers[i % customers.length]!, `overlap ${i}`, { timestamp: t + i }),
    );
    // Windows of 10 events every 5: each event is in two batches; each batch has two entries and
    // is delivered four times.
    const bodies: string[] = [];
    for (let start = 0; start + 10 <= items.length; start += 5) {
      const window = items.slice(start, start + 10);
      const body = {
        object: 'instagram',
        entry: [
          { id: ACCOUNT_ID, time: t + start, messaging: window.slice(0, 5) },
          { id: ACCOUNT_ID, time: t + start + 1, messaging: window.slice(5) },
        ],
      };
      for (let copy = 0; copy < 4; copy++) bodies.push(JSON.stringify(body));
    }
    const before = await svc.eventCount();

    await postAll(shuffled(bodies), ['/webhooks/meta', '/webhooks/instagram/default']);

    const keys = midsOf(items).map((m) => `message:${m}`);
    expect(await rowsByKey(keys)).toEqual(once(keys));
    expect((await svc.eventCount()) - before).toBe(items.length);
    await svc.settled();
    for (const [n, igsid] of customers.entries()) {
      const expected = items.filter((_, i) => i % customers.length === n).map((e) => e.message.mid);
      expect((await messagesOf(igsid)).map((m) => m.mid)).toEqual(expected);
    }
  });

  it('deduplicates per event when a batch is redelivered with its entries and items reordered', async () => {
    const [a, b, c] = [customer(), customer(), customer()];
    const t = Date.now();
    const messages = [a, b, c].map((igsid, i) => textEvent(igsid, `reordered ${i}`, { timestamp: t + i }));
    const reactions = [a, b, c].map((igsid, i) => ({
      sender: { id: igsid },
      recipient: { id: ACCOUNT_ID },
      timestamp: t + 10 + i,
      reaction: { mid: messages[i]!.message.mid, action: 'react', reaction: 'love', emoji: '❤' },
    }));
    const entries = [0, 1, 2].map((i) => ({
      id: ACCOUNT_ID,
      time: t + 20 + i,
      messaging: [messages[i]!, reactions[i]!],
    }));
    const original = { object: 'instagram', entry: entries };
    const reordered = {
      object: 'instagram',
      entry: [...entries].reverse().map((e) => ({ ...e, messaging: [...e.messaging].reverse() })),
    };
    const before = await svc.eventCount();

    await postAll([JSON.stringify(original)]);
    expect((await svc.eventCount()) - before).toBe(6);
    await postAll([
      JSON.stringify(reordered),
      JSON.stringify(original),
      JSON.stringify(reordered, null, 2), // the same events, serialised differently
      JSON.stringify(reordered),
    ]);
    expect((await svc.eventCount()) - before).toBe(6);

    const keys = midsOf(messages).map((m) => `message:${m}`);
    expect(await rowsByKey(keys)).toEqual(once(keys));
    const reactionRows = await svc.store.db
      .selectFrom('webhookEvents')
      .select(['igsid'])
      .where('kind', '=', 'reaction')
      .where('igsid', 'in', [a, b, c])
      .execute();
    expect(reactionRows.map((r) => r.igsid).sort()).toEqual([a, b, c].sort());

    await svc.settled();
    for (const [i, igsid] of [a, b, c].entries()) {
      const list = await messagesOf(igsid);
      expect(list.map((m) => m.text)).toEqual([`reordered ${i}`]);
      expect(list[0]!.reactions).toHaveLength(1);
    }
  });

  it('stores hash-keyed events (reactions, reads) once when redelivered identically', async () => {
    const igsid = customer();
    const t = Date.now();
    const inbound = textEvent(igsid, 'please react', { timestamp: t });
    const echo = {
      sender: { id: ACCOUNT_ID },
      recipient: { id: igsid },
      timestamp: t + 1,
      message: { mid: mid('echo'), text: 'our answer', is_echo: true },
    };
    await postAll([JSON.stringify(igBody([inbound, echo]))]);
    await svc.settled();

    const reaction = {
      sender: { id: igsid },
      recipient: { id: ACCOUNT_ID },
      timestamp: t + 2,
      reaction: { mid: inbound.message.mid, action: 'react', reaction: 'love', emoji: '❤' },
    };
    const read = {
      sender: { id: igsid },
      recipient: { id: ACCOUNT_ID },
      timestamp: t + 3,
      read: { mid: echo.message.mid },
    };
    const body = JSON.stringify({
      object: 'instagram',
      entry: [{ id: ACCOUNT_ID, time: t + 4, messaging: [reaction, read] }],
    });
    // A redelivery may come in an entry stamped with another time: still the same events.
    const restamped = JSON.stringify({
      object: 'instagram',
      entry: [{ id: ACCOUNT_ID, time: t + 60_000, messaging: [read, reaction] }],
    });
    const before = await svc.eventCount();

    await postAll([...Array.from({ length: 20 }, () => body), restamped, restamped]);

    const kinds = async () =>
      (
        await svc.store.db
          .selectFrom('webhookEvents')
          .select(['kind'])
          .where('igsid', '=', igsid)
          .where('kind', 'in', ['reaction', 'read'])
          .execute()
      )
        .map((r) => r.kind)
        .sort();
    expect(await kinds()).toEqual(['reaction', 'read']);
    expect((await svc.eventCount()) - before).toBe(2);
    await svc.settled();
    let list = await messagesOf(igsid);
    expect(list.map((m) => [m.text, m.reactions.length, m.status])).toEqual([
      ['please react', 1, 'received'],
      ['our answer', 0, 'seen'],
    ]);

    // A different reaction (an unreact, later) is a new event, not a redelivery.
    const unreact = {
      ...reaction,
      timestamp: t + 5,
      reaction: { mid: inbound.message.mid, action: 'unreact' },
    };
    await postAll([JSON.stringify(igBody([unreact])), JSON.stringify(igBody([unreact]))]);
    expect((await svc.eventCount()) - before).toBe(3);
    await svc.settled();
    list = await messagesOf(igsid);
    expect(list[0]!.reactions).toEqual([]);
  });
});

describe('dedup edge cases', () => {
  it('keeps two events whose mids differ only in a lone surrogate', async () => {
    // The dedup key `message:<mid>` is bound to SQLite as UTF-8, which turns every lone surrogate
    // into U+FFFD: "m\ud800" and "m\ud801" get the same key, so the second event is acknowledged
    // with 200 but silently dropped (src/ingest/worker.ts insert … on conflict do nothing).
    const igsid = customer();
    const first = textEvent(igsid, 'one', { mid: 'aWdfsurrogate\ud800' });
    const second = textEvent(igsid, 'two', { mid: 'aWdfsurrogate\ud801' });
    const before = await svc.eventCount();
    // JSON.stringify writes lone surrogates as \\uXXXX escapes: the bodies are ASCII and differ.
    await postAll([JSON.stringify(igBody([first]))]);
    await postAll([JSON.stringify(igBody([second]))]);
    expect((await svc.eventCount()) - before).toBe(2);
  });

  it('refuses signed bodies that are not UTF-8 with 400 rather than merging their events', async () => {
    // Decoded, 0xff and 0xfe both become U+FFFD: two events whose mids differ only there once got one
    // dedup key, and the second was acknowledged with 200 and dropped as a redelivery.
    const igsid = customer();
    const m = mid('bad');
    const [head, tail] = JSON.stringify(igBody([textEvent(igsid, 'x', { mid: 'MID' })])).split('MID');
    const bytesWith = (midBytes: Buffer) => Buffer.concat([Buffer.from(head!), midBytes, Buffer.from(tail!)]);
    const post = (body: Buffer) =>
      httpRequest(`${svc.url}/webhooks/meta`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(body, APP_SECRET) },
        body,
      });
    const before = await svc.eventCount();
    for (const bad of [0xff, 0xfe]) {
      const res = await post(bytesWith(Buffer.concat([Buffer.from(m), Buffer.from([bad])])));
      expect(res.status).toBe(400);
      expect(JSON.parse(res.text).error.code).toBe('invalid_utf8');
    }
    expect((await svc.eventCount()) - before).toBe(0);

    // Real UTF-8, unescaped, is still taken as it is.
    const ok = await post(bytesWith(Buffer.from(`${m}.é`)));
    expect(ok.status).toBe(200);
    expect(await rowsByKey([`message:${m}.é`])).toEqual({ [`message:${m}.é`]: 1 });
  });
});
