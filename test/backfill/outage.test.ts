import { afterEach, describe, expect, it } from 'vitest';
import { sign } from '../../src/meta/signature.ts';
import { conversationIdOf } from '../../src/store/ids.ts';
import { startWithConfig } from '../engine/flow/support.ts';
import { Clock, type SandboxService, until } from '../send/support.ts';

// Catching up after an outage, through the sandbox: customers write while igdm's webhook endpoint is
// unreachable (the sandbox remembers the messages, as Meta does, but delivers nothing); a backfill
// reads them from the emulated Conversations API and stores them once, flagged backfilled, with no
// automated reply to the stale ones; a late redelivery of the same webhook adds nothing.

const RULES = `rules:
  - name: hello
    when: { keyword: [hi, hello] }
    reply: { type: text, text: "Hello! How can we help?" }
`;

const MINUTE = 60_000;
let svc: SandboxService | undefined;
afterEach(async () => {
  await svc?.stop();
  svc = undefined;
});

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
async function messagesOf(s: SandboxService, igsid: string): Promise<any[]> {
  const r = await s.json(`/v1/conversations/${conversationIdOf('default', igsid)}/messages?limit=100`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  // Oldest first. A backfilled message's time is Meta's, in whole seconds: compare sets, not order.
  return [...r.body.data].reverse();
}

/** What the customer received from igdm (Send API calls with a message). */
async function repliesTo(s: SandboxService, igsid: string) {
  return (await s.outbox()).filter(
    (e) => e.recipientId === igsid && (e.body as { message?: unknown }).message !== undefined,
  );
}

describe('backfill after an outage', () => {
  it('stores what customers wrote while igdm was down once, flagged, without answering stale messages', async () => {
    // The wall clock, moved forward at will: webhooks' receipt times and Meta's times agree.
    const clock = new Clock();
    clock.set(Date.now());
    clock.running();
    svc = await startWithConfig(RULES, { clock });
    const s = svc;

    // Before the outage: a message arrives by webhook and is answered.
    const { igsid } = await s.customer({ from: 'Ada', text: 'hi' });
    await until(
      () => repliesTo(s, igsid),
      (r) => r.length === 1,
      'the answer to the first hi',
    );
    const before = Date.now();

    // igdm is unreachable: Meta (the sandbox) keeps the messages but cannot deliver them.
    expect((await s.json('/sandbox/outage', { method: 'PUT', body: { down: true } })).status).toBe(200);
    const missed: string[] = [];
    for (const text of ['hello, anyone there?', 'my order did not arrive']) {
      const r = await s.json('/sandbox/messages', { body: { from: igsid, text } });
      expect(r.status).toBe(200);
      expect(r.body.delivered.status, 'not delivered during the outage').toBe(0);
      missed.push(r.body.mid);
    }
    const other = await s.json('/sandbox/messages', { body: { from: 'Grace', text: 'hi there' } });
    missed.push(other.body.mid);
    await s.json('/sandbox/outage', { method: 'PUT', body: { down: false } });
    expect((await messagesOf(s, igsid)).map((m) => m.text)).toEqual(['hi', 'Hello! How can we help?']);

    // An hour later, igdm catches up.
    clock.advance(60 * MINUTE);
    const run = await s.json('/v1/channels/default/import', {
      body: { since: new Date(before - MINUTE).toISOString() },
    });
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body).toMatchObject({
      channelId: 'default',
      trigger: 'import',
      conversationsChecked: 2,
      messagesRecovered: 3,
      possiblyMissing: [],
      error: null,
    });
    await s.settled();

    const thread = await messagesOf(s, igsid);
    expect(thread.map((m) => [m.text, m.backfilled]).sort()).toEqual([
      ['Hello! How can we help?', false],
      ['hello, anyone there?', true],
      ['hi', false],
      ['my order did not arrive', true],
    ]);
    const grace = await messagesOf(s, other.body.igsid);
    expect(grace.map((m) => [m.mid, m.backfilled])).toEqual([[missed[2], true]]);

    // "hello" and "hi there" match the rule, but were written an hour ago: no automated reply.
    await s.settled();
    expect(await repliesTo(s, igsid)).toHaveLength(1);
    expect(await repliesTo(s, other.body.igsid)).toHaveLength(0);
    const jobs = await s.json(`/v1/jobs?queue=engine&conversationId=${conversationIdOf('default', igsid)}`);
    expect(JSON.stringify(jobs.body)).toContain('backfilled: too old for an automated reply');

    // Meta redelivers one of them after all: stored once.
    const delivery = (await s.json('/sandbox/deliveries')).body.data.find((d: { payload: string }) =>
      d.payload.includes(missed[0]!),
    );
    const res = await fetch(`${s.url}/webhooks/meta`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-hub-signature-256': sign(delivery.payload, s.sandbox!.options.appSecret),
      },
      body: delivery.payload,
    });
    expect(res.status).toBe(200);
    await s.settled();
    expect(await messagesOf(s, igsid)).toHaveLength(4);

    // A second run finds nothing new.
    const again = await s.json('/v1/channels/default/import', {
      body: { since: new Date(before - MINUTE).toISOString() },
    });
    expect(again.body).toMatchObject({ conversationsChecked: 2, messagesRecovered: 0 });
  });

  it('answers a message missed minutes ago, as the webhook would have been', async () => {
    svc = await startWithConfig(RULES);
    const s = svc;
    const before = Date.now();
    await s.json('/sandbox/outage', { method: 'PUT', body: { down: true } });
    const r = await s.json('/sandbox/messages', { body: { from: 'Linus', text: 'hi' } });
    expect(r.body.delivered.status).toBe(0);
    await s.json('/sandbox/outage', { method: 'PUT', body: { down: false } });
    const run = await s.json('/v1/channels/default/import', {
      body: { since: new Date(before - MINUTE).toISOString() },
    });
    expect(run.body).toMatchObject({ conversationsChecked: 1, messagesRecovered: 1 });
    await until(
      () => repliesTo(s, r.body.igsid),
      (sent) => sent.length === 1,
      'the answer to a fresh backfilled hi',
    );
    expect((await messagesOf(s, r.body.igsid)).find((m) => m.mid === r.body.mid)?.backfilled).toBe(true);
  });

  it('says where messages may be missing: Meta shows only the 20 newest of a conversation', async () => {
    svc = await startWithConfig(RULES);
    const s = svc;
    const before = Date.now();
    const { igsid } = await s.customer({ from: 'Edsger', text: 'message 1' });
    for (let i = 2; i <= 20; i++) await s.customer({ from: igsid, text: `message ${i}` });
    await s.json('/sandbox/outage', { method: 'PUT', body: { down: true } });
    await s.json('/sandbox/messages', { body: { from: igsid, text: 'message 21' } });
    await s.json('/sandbox/outage', { method: 'PUT', body: { down: false } });

    const run = await s.json('/v1/channels/default/import', {
      body: { since: new Date(before - MINUTE).toISOString() },
    });
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body).toMatchObject({
      conversationsChecked: 1,
      messagesRecovered: 1,
      possiblyMissing: [{ igsid, conversationId: expect.any(String), oldestShownAt: expect.any(String) }],
    });
    // The oldest message Meta still shows is newer than the run's start: older ones are out of reach.
    expect(Date.parse(run.body.possiblyMissing[0].oldestShownAt)).toBeGreaterThan(before - MINUTE);
    await s.settled();
    expect(await messagesOf(s, igsid)).toHaveLength(21);
  });

  it('catches up on a schedule (IGDM_BACKFILL_INTERVAL_MINUTES)', async () => {
    svc = await startWithConfig(RULES, { env: { IGDM_BACKFILL_INTERVAL_MINUTES: '0.02' } });
    const s = svc;
    const { igsid } = await s.customer({ from: 'Barbara', text: 'first, delivered' });
    await s.json('/sandbox/outage', { method: 'PUT', body: { down: true } });
    const r = await s.json('/sandbox/messages', { body: { from: igsid, text: 'second, lost' } });
    expect(r.body.delivered.status).toBe(0);
    await s.json('/sandbox/outage', { method: 'PUT', body: { down: false } });
    // Within a couple of runs (every 1.2 s), with no one asking.
    const thread = await until(
      () => messagesOf(s, igsid),
      (m) => m.length === 2,
      'the lost message, read back by a scheduled run',
    );
    expect(thread.map((m) => [m.text, m.backfilled]).sort()).toEqual([
      ['first, delivered', false],
      ['second, lost', true],
    ]);
  });

  it('reads attachments back in the Conversations API’s shape: an image is an image', async () => {
    svc = await startWithConfig(RULES);
    const s = svc;
    const before = Date.now();
    await s.json('/sandbox/outage', { method: 'PUT', body: { down: true } });
    const url = 'https://cdn.example.com/lost-photo.jpg';
    const r = await s.json('/sandbox/messages', {
      body: { from: 'Margaret', attachments: [{ type: 'image', url }] },
    });
    await s.json('/sandbox/outage', { method: 'PUT', body: { down: false } });
    // The emulated API answers as Meta's does: image_data.url, not the webhook's payload.url.
    const detail = await fetch(
      `${s.url}/sandbox/graph/v24.0/${encodeURIComponent(r.body.mid)}?fields=attachments`,
      { headers: { authorization: `Bearer ${s.sandbox!.options.accessToken}` } },
    );
    const shown = (await detail.json()) as { attachments: { data: unknown[] } };
    // The run below starts while this read still counts against the 2 calls/s: it waits and reads again.
    expect(shown.attachments.data).toEqual([
      expect.objectContaining({ mime_type: 'image/jpeg', image_data: expect.objectContaining({ url }) }),
    ]);
    const run = await s.json('/v1/channels/default/import', {
      body: { since: new Date(before - MINUTE).toISOString() },
    });
    expect(run.body).toMatchObject({ messagesRecovered: 1 });
    await s.settled();
    const [message] = await messagesOf(s, r.body.igsid);
    expect(message).toMatchObject({ type: 'image', backfilled: true });
    expect(JSON.stringify(message.attachments)).toContain(url);
  });
});
