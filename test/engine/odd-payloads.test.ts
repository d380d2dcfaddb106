import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { sign } from '../../src/meta/signature.ts';
import { startService } from '../../src/service.ts';
import {
  conversationOf,
  deliver,
  getJson,
  iso,
  messageItem,
  newIgsid,
  type Page,
  threadOf,
} from '../support/conversations.ts';
import {
  ACCOUNT_ID,
  APP_SECRET,
  callApi,
  mid,
  startTestService,
  type TestService,
  testEnv,
} from '../support/service.ts';

// Valid but odd payloads (Meta's own examples, its Dashboard's "Test" button, field captures) are
// applied, not dropped: sent through the signed webhook route, read back through the API as a user
// would. What still cannot be applied is listed with its reason (GET /v1/webhook-events), counted in
// GET /metrics.

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.stop();
});

interface WebhookEventJson {
  id: number;
  channelId: string | null;
  kind: string;
  object: string;
  source: string;
  status: 'applied' | 'unapplied' | 'ignored';
  reason: string | null;
  receivedAt: string;
  raw: Record<string, unknown>;
}

/** A Meta timestamp a few minutes ago, distinct per call. */
let clock = Date.now() - 30 * 60_000;
const ts = () => (clock += 10_000);

/** An Instagram body with its entry time. */
const bodyAt = (time: number | undefined, messaging: object[]) => ({
  object: 'instagram',
  entry: [{ id: ACCOUNT_ID, ...(time !== undefined && { time }), messaging }],
});

/** The stored event whose raw item carries this mid (in message, message_edit or reaction). */
async function eventOf(m: string): Promise<WebhookEventJson> {
  const page = await getJson<Page<WebhookEventJson>>(svc, '/v1/webhook-events?limit=200');
  const found = page.data.find((e) => JSON.stringify(e.raw).includes(`"${m}"`));
  expect(found, `a stored event with ${m}`).toBeDefined();
  return found!;
}

describe('numbers as strings and null where a string is usual', () => {
  it('an edit whose num_edit is a string (as in Meta’s example) edits the message', async () => {
    const igsid = newIgsid();
    const m = mid();
    await deliver(svc, bodyAt(Date.now(), [messageItem(igsid, ts(), { mid: m, text: 'Hi, size M?' })]));
    const editedAt = ts();
    await deliver(
      svc,
      bodyAt(Date.now(), [
        {
          sender: { id: igsid },
          recipient: { id: ACCOUNT_ID },
          timestamp: editedAt,
          message_edit: { mid: m, text: 'Hi, size L?', num_edit: '1' },
        },
      ]),
    );
    const { messages } = await threadOf(svc, igsid);
    expect(messages).toMatchObject([{ mid: m, text: 'Hi, size L?', editedAt: iso(editedAt) }]);
    expect(await eventOf(m)).toMatchObject({ status: 'applied', reason: null });
  });

  it('a reaction without reaction or emoji is kept; an unreact with "emoji": null removes it', async () => {
    const igsid = newIgsid();
    const m = mid();
    await deliver(svc, bodyAt(Date.now(), [messageItem(igsid, ts(), { mid: m, text: 'Love it' })]));
    const reactedAt = ts();
    const envelope = { sender: { id: igsid }, recipient: { id: ACCOUNT_ID } };
    await deliver(
      svc,
      bodyAt(Date.now(), [{ ...envelope, timestamp: reactedAt, reaction: { mid: m, action: 'react' } }]),
    );
    let { messages } = await threadOf(svc, igsid);
    expect(messages[0]!.reactions).toEqual([
      { by: igsid, reaction: 'other', emoji: null, at: iso(reactedAt) },
    ]);

    await deliver(
      svc,
      bodyAt(Date.now(), [
        {
          ...envelope,
          timestamp: ts(),
          reaction: { mid: m, action: 'react', reaction: 'like', emoji: null },
        },
      ]),
    );
    ({ messages } = await threadOf(svc, igsid));
    expect(messages[0]!.reactions).toMatchObject([{ by: igsid, reaction: 'like', emoji: null }]);

    await deliver(
      svc,
      bodyAt(Date.now(), [
        {
          ...envelope,
          timestamp: ts(),
          reaction: { mid: m, action: 'unreact', reaction: null, emoji: null },
        },
      ]),
    );
    ({ messages } = await threadOf(svc, igsid));
    expect(messages[0]!.reactions).toEqual([]);
  });

  it('a message whose text is null but carries an attachment is stored', async () => {
    const igsid = newIgsid();
    const m = mid();
    await deliver(
      svc,
      bodyAt(Date.now(), [
        messageItem(igsid, ts(), {
          mid: m,
          text: null,
          attachments: [{ type: 'image', payload: { url: 'https://cdn.example/photo.jpg' } }],
        }),
      ]),
    );
    const { messages } = await threadOf(svc, igsid);
    expect(messages).toMatchObject([
      { mid: m, text: null, type: 'image', attachments: [{ url: 'https://cdn.example/photo.jpg' }] },
    ]);
  });
});

describe('timestamps in seconds or implausible', () => {
  it('seconds (the Dashboard test’s 1527459824) give way to entry.time; the original stays in the raw item', async () => {
    const igsid = newIgsid();
    const m = mid();
    const entryTime = Date.now() - 60_000;
    await deliver(svc, bodyAt(entryTime, [messageItem(igsid, 1527459824, { mid: m, text: 'Test button' })]));
    const { conversation, messages } = await threadOf(svc, igsid);
    expect(messages).toMatchObject([{ mid: m, createdAt: iso(entryTime) }]);
    // A message of now, not of 2018: the window is open.
    expect(conversation).toMatchObject({ lastInboundAt: iso(entryTime), windowOpen: true });
    const event = await eventOf(m);
    expect(event).toMatchObject({ status: 'applied', reason: null });
    expect(event.raw['timestamp']).toBe(1527459824);
  });

  it('the Dashboard test under changes (timestamp "1527459824", entry.time in seconds)', async () => {
    const igsid = newIgsid();
    const m = mid();
    const entrySeconds = Math.floor(Date.now() / 1000) - 60;
    await deliver(svc, {
      object: 'instagram',
      entry: [
        {
          id: ACCOUNT_ID,
          time: entrySeconds,
          changes: [
            {
              field: 'messages',
              value: {
                sender: { id: igsid },
                recipient: { id: ACCOUNT_ID },
                timestamp: '1527459824',
                message: { mid: m, text: 'random_text' },
              },
            },
          ],
        },
      ],
    });
    const { messages } = await threadOf(svc, igsid);
    expect(messages).toMatchObject([{ mid: m, text: 'random_text', createdAt: iso(entrySeconds * 1000) }]);
  });

  it('an entry.time that is not a whole number is stored as one (PostgreSQL refused it: a 503 Meta would retry forever)', async () => {
    const tiny = newIgsid();
    const half = newIgsid();
    const at = Date.now() - 30_000;
    await deliver(
      svc,
      bodyAt(5e-324, [messageItem(tiny, at, { text: 'a tiny entry time' })]),
      bodyAt(at + 0.5, [messageItem(half, at, { text: 'half a millisecond' })]),
    );
    for (const igsid of [tiny, half]) {
      const { messages } = await threadOf(svc, igsid);
      expect(messages).toMatchObject([{ createdAt: iso(at) }]);
    }
  });

  it('a far-future or tiny timestamp without entry.time gives way to the time igdm received it', async () => {
    const before = Date.now();
    const future = newIgsid();
    const tiny = newIgsid();
    const word = newIgsid();
    await deliver(
      svc,
      bodyAt(undefined, [messageItem(future, 99_999_999_999_999, { text: 'from the future' })]),
      bodyAt(undefined, [messageItem(tiny, 5, { text: 'from 1970' })]),
      bodyAt(undefined, [messageItem(word, 'yesterday' as unknown as number, { text: 'a word' })]),
    );
    const after = Date.now();
    for (const igsid of [future, tiny, word]) {
      const { conversation, messages } = await threadOf(svc, igsid);
      const at = Date.parse(messages[0]!.createdAt);
      expect(at).toBeGreaterThanOrEqual(before);
      expect(at).toBeLessThanOrEqual(after);
      expect(conversation.windowOpen).toBe(true);
    }
  });
});

describe('attachment payloads with their own field names', () => {
  it('the url and media id are found where each kind keeps them', async () => {
    const igsid = newIgsid();
    const story = mid('story');
    const mention = mid('mention');
    const reel = mid('reel');
    const igReel = mid('igreel');
    const heart = mid('heart');
    const nullPayload = mid('null');
    await deliver(
      svc,
      bodyAt(Date.now(), [
        messageItem(igsid, ts(), {
          mid: story,
          attachments: [
            {
              type: 'ig_story',
              payload: {
                story_media_url: 'https://cdn.example/story.mp4',
                story_media_id: 1800000000000001,
              },
            },
          ],
        }),
        messageItem(igsid, ts(), {
          mid: mention,
          attachments: [
            {
              type: 'story_mention',
              payload: {
                story_media_url: 'https://cdn.example/mention.jpg',
                story_media_id: '18000000000000002',
              },
            },
          ],
        }),
        messageItem(igsid, ts(), {
          mid: reel,
          attachments: [
            {
              type: 'reel',
              payload: { reel_video_id: 1800000000000003, url: 'https://cdn.example/reel.mp4' },
            },
          ],
        }),
        messageItem(igsid, ts(), {
          mid: igReel,
          attachments: [
            {
              type: 'ig_reel',
              payload: { reel_video_id: '18000000000000004', title: null, url: 'https://cdn.example/r.mp4' },
            },
          ],
        }),
        messageItem(igsid, ts(), { mid: heart, attachments: [{ type: 'like_heart' }] }),
        messageItem(igsid, ts(), { mid: nullPayload, attachments: [{ type: 'sticker', payload: null }] }),
      ]),
    );
    const { messages } = await threadOf(svc, igsid);
    const byMid = Object.fromEntries(messages.map((m) => [m.mid, m]));
    expect(byMid[story]).toMatchObject({
      type: 'ig_story',
      attachments: [{ type: 'ig_story', url: 'https://cdn.example/story.mp4', mediaId: '1800000000000001' }],
    });
    expect(byMid[mention]).toMatchObject({
      type: 'story_mention',
      attachments: [
        { type: 'story_mention', url: 'https://cdn.example/mention.jpg', mediaId: '18000000000000002' },
      ],
    });
    expect(byMid[reel]).toMatchObject({
      type: 'reel',
      attachments: [{ type: 'reel', url: 'https://cdn.example/reel.mp4', mediaId: '1800000000000003' }],
    });
    expect(byMid[igReel]).toMatchObject({
      type: 'ig_reel',
      attachments: [{ type: 'ig_reel', url: 'https://cdn.example/r.mp4', mediaId: '18000000000000004' }],
    });
    expect(byMid[heart]).toMatchObject({
      type: 'like_heart',
      attachments: [{ type: 'like_heart', payload: {} }],
    });
    expect(byMid[nullPayload]).toMatchObject({ type: 'sticker', attachments: [{ type: 'sticker' }] });
    expect(messages).toHaveLength(6);
  });
});

describe('is_self: the account messaging itself', () => {
  it('is not a customer message: no conversation, no window, listed as ignored with the reason', async () => {
    const self = newIgsid();
    const m = mid('self');
    const echo = mid('selfecho');
    await deliver(
      svc,
      bodyAt(Date.now(), [
        messageItem(self, ts(), { mid: m, text: 'note to self', is_self: true }),
        {
          sender: { id: ACCOUNT_ID },
          recipient: { id: self },
          timestamp: ts(),
          message: { mid: echo, text: 'note to self', is_echo: true, is_self: true },
        },
      ]),
    );
    expect(await conversationOf(svc, self)).toBeUndefined();
    for (const id of [m, echo]) {
      expect(await eventOf(id)).toMatchObject({
        status: 'ignored',
        reason: 'is_self: the account messaged itself',
      });
    }
  });
});

describe('GET /v1/webhook-events: what could not be applied, with its reason', () => {
  it('lists unapplied and ignored events with their reason and raw item; filters and pages work', async () => {
    const igsid = newIgsid();
    const noMid = {
      sender: { id: igsid },
      recipient: { id: ACCOUNT_ID },
      timestamp: ts(),
      message: { text: 'x' },
    };
    const future = { field: 'some_future_field', value: { id: '1' } };
    await deliver(
      svc,
      bodyAt(Date.now(), [noMid]),
      { object: 'instagram', entry: [{ id: ACCOUNT_ID, time: Date.now(), changes: [future] }] },
      {
        object: 'page',
        entry: [
          { id: '100000000000009', time: Date.now(), messaging: [messageItem(igsid, ts(), { text: 'fb' })] },
        ],
      },
    );

    const unapplied = await getJson<Page<WebhookEventJson>>(svc, '/v1/webhook-events?status=unapplied');
    expect(unapplied.data).toContainEqual({
      id: expect.any(Number),
      channelId: 'default',
      kind: 'message',
      object: 'instagram',
      source: 'messaging',
      status: 'unapplied',
      reason: 'bad message: message.mid: Invalid input',
      receivedAt: expect.any(String),
      raw: noMid,
    });
    expect(unapplied.data.every((e) => e.status === 'unapplied')).toBe(true);

    const ignored = await getJson<Page<WebhookEventJson>>(svc, '/v1/webhook-events?status=ignored');
    expect(ignored.data).toContainEqual(
      expect.objectContaining({
        kind: 'some_future_field',
        source: 'changes',
        reason: "unknown change field 'some_future_field'",
        raw: future,
      }),
    );
    expect(ignored.data).toContainEqual(
      expect.objectContaining({ object: 'page', reason: "object 'page': igdm applies Instagram events" }),
    );
    expect(ignored.data.every((e) => e.status === 'ignored')).toBe(true);

    // By kind and channel.
    const changes = await getJson<Page<WebhookEventJson>>(svc, '/v1/webhook-events?kind=some_future_field');
    expect(changes.data.map((e) => e.kind)).toEqual(['some_future_field']);
    const none = await getJson<Page<WebhookEventJson>>(svc, '/v1/webhook-events?channelId=nope');
    expect(none.data).toEqual([]);
    const applied = await getJson<Page<WebhookEventJson>>(
      svc,
      '/v1/webhook-events?status=applied&channelId=default&limit=200',
    );
    expect(applied.data.length).toBeGreaterThan(5);
    expect(applied.data.every((e) => e.status === 'applied' && e.reason === null)).toBe(true);

    // Pages: newest first, each event once.
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<WebhookEventJson> = await getJson(
        svc,
        `/v1/webhook-events?limit=7${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...page.data.map((e) => e.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...seen].sort((a, b) => b - a));
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe(await svc.eventCount());

    // Bad input is the catalog's.
    const bad = await callApi(svc, 'GET', '/v1/webhook-events?status=lost');
    expect(bad.status).toBe(400);
    const badCursor = await callApi(svc, 'GET', '/v1/webhook-events?cursor=nonsense');
    expect(badCursor).toMatchObject({ status: 400, body: { error: { code: 'invalid_cursor' } } });
  });

  it('GET /metrics counts unapplied events by reason, without a key', async () => {
    const res = await fetch(`${svc.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toContain(
      'igdm_webhook_events_unapplied_total{reason="bad message: message.mid: Invalid input"} 1',
    );
    expect(text).toContain('process_cpu_user_seconds_total');
  });
});

describe('the log', () => {
  it('says each reason of unapplied events once, not once per event', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'igdm-odd-log-'));
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const service = await startService(loadConfig(testEnv(dir)), log);
    try {
      const post = async (body: object) => {
        const text = JSON.stringify(body);
        const res = await fetch(`${service.url}/webhooks/meta`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(text, APP_SECRET) },
          body: text,
        });
        expect(res.status).toBe(200);
      };
      const noMid = (text: string) => ({
        sender: { id: newIgsid() },
        recipient: { id: ACCOUNT_ID },
        timestamp: ts(),
        message: { text },
      });
      const badReaction = {
        sender: { id: newIgsid() },
        timestamp: ts(),
        reaction: { mid: 'm', action: 'poke' },
      };
      for (const text of ['one', 'two', 'three']) await post(bodyAt(Date.now(), [noMid(text)]));
      await post(bodyAt(Date.now(), [badReaction]));
      const said = () =>
        lines.filter((l) => String(l['msg']).startsWith('stored webhook events could not be applied'));
      for (let i = 0; i < 500 && said().length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 100));
      expect(said().map((l) => l['reason'])).toEqual([
        'bad message: message.mid: Invalid input',
        expect.stringMatching(/^bad reaction: reaction\.action: /),
      ]);
    } finally {
      await service.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
