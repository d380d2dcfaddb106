import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Projector } from '../../src/projection/projector.ts';
import {
  conversationOf,
  DAY_MS,
  deliver,
  echoItem,
  editItem,
  iso,
  messageItem,
  newIgsid,
  postbackItem,
  reactionItem,
  readItem,
  referralItem,
  threadOf,
  unsendItem,
} from '../support/conversations.ts';
import {
  ACCOUNT_ID,
  describeOnSqlite,
  igBody,
  itOnSqlite,
  mid,
  startTestService,
  type TestService,
  textEvent,
} from '../support/service.ts';

// Applying webhook events to contacts, conversations and messages, observed the way users see it:
// signed webhooks in, REST API out.

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.stop();
});
afterEach(async () => {
  // Nothing delivered in these tests should fail to apply (other objects are ignored, with a reason).
  const failed = await svc.store.db
    .selectFrom('webhookEvents')
    .select(['kind', 'applyError'])
    .where('applyStatus', '=', 'unapplied')
    .execute();
  expect(failed).toEqual([]);
});

/** A Meta timestamp a few minutes ago (inside the 24 h window), distinct per call. */
let clock = Date.now() - 30 * 60_000;
const ts = () => (clock += 10_000);

describe('a customer message', () => {
  it('creates the contact and an open bot-owned conversation, and stores the inbound message', async () => {
    const igsid = newIgsid();
    const at = ts();
    const m = mid();
    await deliver(
      svc,
      igBody([textEvent(igsid, 'Hi, is the blue jacket in stock?', { mid: m, timestamp: at })]),
    );

    const { conversation, messages } = await threadOf(svc, igsid);
    expect(conversation).toMatchObject({
      channelId: 'default',
      igsid,
      status: 'open',
      threadOwner: 'bot',
      lastInboundAt: iso(at),
      lastMessageAt: iso(at),
      windowClosesAt: iso(at + DAY_MS),
      windowOpen: true,
    });
    expect(conversation.id).toEqual(expect.any(String));
    expect(conversation.contact.id).toEqual(expect.any(String));

    // The same conversation by id.
    const one = await svc.api(`/v1/conversations/${conversation.id}`);
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual(conversation);

    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      mid: m,
      conversationId: conversation.id,
      channelId: 'default',
      direction: 'inbound',
      type: 'text',
      text: 'Hi, is the blue jacket in stock?',
      attachments: [],
      replyTo: null,
      payload: null,
      reactions: [],
      status: 'received',
      isEcho: false,
      editedAt: null,
      deletedAt: null,
      seenAt: null,
      createdAt: iso(at),
    });
    expect(messages[0]!.id).toEqual(expect.any(String));
  });

  it('a second message joins the same conversation and moves its clocks', async () => {
    const igsid = newIgsid();
    const first = ts();
    const second = ts();
    await deliver(svc, igBody([textEvent(igsid, 'one', { timestamp: first })]));
    const before = await threadOf(svc, igsid);
    await deliver(svc, igBody([textEvent(igsid, 'two', { timestamp: second })]));
    const after = await threadOf(svc, igsid);
    expect(after.conversation.id).toBe(before.conversation.id);
    expect(after.conversation.contact.id).toBe(before.conversation.contact.id);
    expect(after.conversation.lastInboundAt).toBe(iso(second));
    expect(after.conversation.windowClosesAt).toBe(iso(second + DAY_MS));
    expect(after.messages.map((m) => m.text)).toEqual(['one', 'two']);
  });

  it('an old message gives a closed window', async () => {
    const igsid = newIgsid();
    const at = Date.now() - 2 * DAY_MS;
    await deliver(svc, igBody([textEvent(igsid, 'from two days ago', { timestamp: at })]));
    const { conversation } = await threadOf(svc, igsid);
    expect(conversation.lastInboundAt).toBe(iso(at));
    expect(conversation.windowClosesAt).toBe(iso(at + DAY_MS));
    expect(conversation.windowOpen).toBe(false);
  });
});

describe('message types', () => {
  const cdn = (name: string) => `https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=${name}&signature=x`;
  const cases: { name: string; attachments: object[]; type: string }[] = [
    { name: 'image', attachments: [{ type: 'image', payload: { url: cdn('img') } }], type: 'image' },
    { name: 'video', attachments: [{ type: 'video', payload: { url: cdn('vid') } }], type: 'video' },
    { name: 'audio', attachments: [{ type: 'audio', payload: { url: cdn('aud') } }], type: 'audio' },
    { name: 'file', attachments: [{ type: 'file', payload: { url: cdn('pdf') } }], type: 'file' },
    { name: 'share', attachments: [{ type: 'share', payload: { url: cdn('shr') } }], type: 'share' },
    {
      name: 'story_mention',
      attachments: [{ type: 'story_mention', payload: { url: cdn('story') } }],
      type: 'story_mention',
    },
    {
      name: 'ig_reel',
      attachments: [
        { type: 'ig_reel', payload: { reel_video_id: '1789', title: 'Summer', url: cdn('reel') } },
      ],
      type: 'ig_reel',
    },
    {
      name: 'reel',
      attachments: [{ type: 'reel', payload: { reel_video_id: '1790', url: cdn('r') } }],
      type: 'reel',
    },
    {
      name: 'ig_post',
      attachments: [
        { type: 'ig_post', payload: { ig_post_media_id: '1791', title: 'New in', url: cdn('post') } },
      ],
      type: 'ig_post',
    },
    {
      name: 'share + ig_post (a post share since Nov 2025)',
      attachments: [
        { type: 'share', payload: { url: cdn('post2'), ig_post_media_id: '1792', title: 'New in' } },
        { type: 'ig_post', payload: { ig_post_media_id: '1792', title: 'New in', url: cdn('post2') } },
      ],
      type: 'ig_post',
    },
    { name: 'ephemeral', attachments: [{ type: 'ephemeral' }], type: 'ephemeral' },
    {
      name: 'an unknown type',
      attachments: [{ type: 'hologram', payload: { url: cdn('holo'), depth: 3 } }],
      type: 'hologram',
    },
  ];

  it.each(cases)('$name', async ({ attachments, type }) => {
    const igsid = newIgsid();
    const at = ts();
    await deliver(svc, igBody([messageItem(igsid, at, { attachments })]));
    const { messages } = await threadOf(svc, igsid);
    expect(messages).toHaveLength(1);
    const [m] = messages;
    expect(m!.type).toBe(type);
    expect(m!.text).toBeNull();
    expect(m!.createdAt).toBe(iso(at));
    // Every attachment is kept, in order, with its payload as Meta sent it.
    expect(m!.attachments).toHaveLength(attachments.length);
    for (const [i, sent] of (
      attachments as { type: string; payload?: Record<string, unknown> }[]
    ).entries()) {
      expect(m!.attachments[i]).toMatchObject({ type: sent.type, payload: sent.payload ?? {} });
      if (typeof sent.payload?.['url'] === 'string') expect(m!.attachments[i]!.url).toBe(sent.payload['url']);
    }
  });

  it('ig_reel and ig_post keep their media ids', async () => {
    const igsid = newIgsid();
    await deliver(
      svc,
      igBody([
        messageItem(igsid, ts(), {
          attachments: [{ type: 'ig_reel', payload: { reel_video_id: 555, title: 'Reel', url: cdn('r5') } }],
        }),
        messageItem(igsid, ts(), {
          attachments: [
            { type: 'ig_post', payload: { ig_post_media_id: '666', title: 'Post', url: cdn('p6') } },
          ],
        }),
      ]),
    );
    const { messages } = await threadOf(svc, igsid);
    expect(messages.map((m) => [m.type, m.attachments[0]?.mediaId, m.attachments[0]?.title])).toEqual([
      ['ig_reel', '555', 'Reel'],
      ['ig_post', '666', 'Post'],
    ]);
  });

  it('a text with an image keeps both', async () => {
    const igsid = newIgsid();
    await deliver(
      svc,
      igBody([
        messageItem(igsid, ts(), {
          text: 'this one',
          attachments: [{ type: 'image', payload: { url: cdn('x') } }],
        }),
      ]),
    );
    const { messages } = await threadOf(svc, igsid);
    expect(messages[0]).toMatchObject({ type: 'image', text: 'this one' });
  });

  it('a reply to a story is a story_reply that keeps the story', async () => {
    const igsid = newIgsid();
    await deliver(
      svc,
      igBody([
        messageItem(igsid, ts(), {
          text: 'Love this look!',
          reply_to: { story: { url: cdn('story-r'), id: '18012345678901234' } },
        }),
      ]),
    );
    const { messages } = await threadOf(svc, igsid);
    expect(messages[0]).toMatchObject({
      type: 'story_reply',
      text: 'Love this look!',
      replyTo: { story: { url: cdn('story-r'), id: '18012345678901234' } },
    });
  });

  it('a reply to a message keeps the mid it replies to', async () => {
    const igsid = newIgsid();
    const first = mid();
    await deliver(
      svc,
      igBody([
        textEvent(igsid, 'Do you ship to Lyon?', { mid: first, timestamp: ts() }),
        messageItem(igsid, ts(), { text: 'and to Paris?', reply_to: { mid: first } }),
      ]),
    );
    const { messages } = await threadOf(svc, igsid);
    expect(messages[1]).toMatchObject({ type: 'text', text: 'and to Paris?', replyTo: { mid: first } });
  });

  it('a quick reply keeps its payload', async () => {
    const igsid = newIgsid();
    await deliver(
      svc,
      igBody([messageItem(igsid, ts(), { text: 'Track my order', quick_reply: { payload: 'TRACK_ORDER' } })]),
    );
    const { messages } = await threadOf(svc, igsid);
    expect(messages[0]).toMatchObject({ type: 'text', text: 'Track my order', payload: 'TRACK_ORDER' });
  });

  it('a postback (ice breaker) is a postback message with its payload, and opens the window', async () => {
    const igsid = newIgsid();
    const at = ts();
    const item = postbackItem(igsid, at, 'What are your hours?', 'ICE_HOURS');
    await deliver(svc, igBody([item]));
    const { conversation, messages } = await threadOf(svc, igsid);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      mid: item.postback.mid,
      direction: 'inbound',
      type: 'postback',
      text: 'What are your hours?',
      payload: 'ICE_HOURS',
      createdAt: iso(at),
    });
    expect(conversation.lastInboundAt).toBe(iso(at));
  });

  it('a message from an ad keeps its referral and opens the window', async () => {
    const igsid = newIgsid();
    const at = ts();
    const referral = {
      ref: 'spring',
      source: 'ADS',
      type: 'OPEN_THREAD',
      ad_id: '6045',
      ads_context_data: { ad_title: 'Spring' },
    };
    await deliver(svc, igBody([messageItem(igsid, at, { text: 'Is this still on?', referral })]));
    const { conversation, messages } = await threadOf(svc, igsid);
    expect(messages[0]).toMatchObject({
      type: 'text',
      text: 'Is this still on?',
      referral: {
        ref: 'spring',
        source: 'ADS',
        type: 'OPEN_THREAD',
        adId: '6045',
        adsContextData: { ad_title: 'Spring' },
      },
    });
    expect(conversation.lastInboundAt).toBe(iso(at));
    // Where the customer came from, on the conversation.
    expect(conversation.source).toEqual({ ref: 'spring', source: 'ADS', type: 'OPEN_THREAD', adId: '6045' });
  });

  it("a conversation's source is its first referral, even when a later one was delivered first", async () => {
    const igsid = newIgsid();
    const first = ts();
    const second = ts();
    const link = { ref: 'bio-link', source: 'SHORTLINKS', type: 'OPEN_THREAD' };
    const ad = { ref: 'winter', source: 'ADS', type: 'OPEN_THREAD', ad_id: '7001' };
    // The later one (an ad) arrives first; the ig.me link that opened the thread comes after.
    await deliver(svc, igBody([messageItem(igsid, second, { text: 'Still on sale?', referral: ad })]));
    expect((await conversationOf(svc, igsid))!.source).toMatchObject({ ref: 'winter', adId: '7001' });
    await deliver(svc, igBody([referralItem(igsid, first, link)]));
    expect((await conversationOf(svc, igsid))!.source).toEqual({ ...link, adId: null });
    // Without any referral, there is no source.
    const plain = newIgsid();
    await deliver(svc, igBody([textEvent(plain, 'hello', { timestamp: ts() })]));
    expect((await conversationOf(svc, plain))!.source).toBeNull();
  });

  it('is_unsupported gives an unsupported message', async () => {
    const igsid = newIgsid();
    await deliver(svc, igBody([messageItem(igsid, ts(), { is_unsupported: true })]));
    const { messages } = await threadOf(svc, igsid);
    expect(messages[0]).toMatchObject({ type: 'unsupported', direction: 'inbound', status: 'received' });
  });
});

describe('echoes', () => {
  it('an echo is an outbound message in the customer conversation and does not move lastInboundAt', async () => {
    const igsid = newIgsid();
    const inboundAt = ts();
    const echoAt = ts();
    const echo = echoItem(igsid, echoAt, { text: 'Yes, in M and L.' });
    await deliver(svc, igBody([textEvent(igsid, 'Blue jacket in stock?', { timestamp: inboundAt })]));
    await deliver(svc, igBody([echo]));

    const { conversation, messages } = await threadOf(svc, igsid);
    expect(conversation.lastInboundAt).toBe(iso(inboundAt));
    expect(conversation.windowClosesAt).toBe(iso(inboundAt + DAY_MS));
    expect(conversation.lastMessageAt).toBe(iso(echoAt));
    expect(messages).toHaveLength(2);
    expect(messages[1]).toMatchObject({
      mid: echo.message.mid,
      conversationId: conversation.id,
      direction: 'outbound',
      type: 'text',
      text: 'Yes, in M and L.',
      isEcho: true,
      status: 'sent',
      createdAt: iso(echoAt),
    });
    // No conversation for the business account itself.
    expect(await conversationOf(svc, ACCOUNT_ID)).toBeUndefined();
  });

  it('an echo alone creates the conversation without opening the window', async () => {
    const igsid = newIgsid();
    await deliver(svc, igBody([echoItem(igsid, ts(), { text: 'Hello from the Instagram app' })]));
    const { conversation, messages } = await threadOf(svc, igsid);
    expect(conversation.lastInboundAt).toBeNull();
    expect(conversation.windowClosesAt).toBeNull();
    expect(conversation.windowOpen).toBe(false);
    expect(messages).toMatchObject([{ direction: 'outbound', isEcho: true }]);
  });
});

describe('reactions', () => {
  it('a react attaches to its message and an unreact removes it', async () => {
    const igsid = newIgsid();
    const m = mid();
    const reactAt = ts();
    await deliver(svc, igBody([textEvent(igsid, 'Thanks!', { mid: m, timestamp: ts() })]));
    await deliver(svc, igBody([reactionItem(igsid, reactAt, m, 'react', 'love')]));
    let { messages } = await threadOf(svc, igsid);
    expect(messages[0]!.reactions).toEqual([
      { by: igsid, reaction: 'love', emoji: '\u2764\ufe0f', at: iso(reactAt) },
    ]);

    await deliver(svc, igBody([reactionItem(igsid, ts(), m, 'unreact')]));
    ({ messages } = await threadOf(svc, igsid));
    expect(messages[0]!.reactions).toEqual([]);
  });

  it('a new reaction replaces the previous one of the same person', async () => {
    const igsid = newIgsid();
    const m = mid();
    await deliver(svc, igBody([textEvent(igsid, 'Order shipped?', { mid: m, timestamp: ts() })]));
    await deliver(svc, igBody([reactionItem(igsid, ts(), m, 'react', 'like')]));
    const laughAt = ts();
    await deliver(svc, igBody([reactionItem(igsid, laughAt, m, 'react', 'laugh')]));
    const { messages } = await threadOf(svc, igsid);
    expect(messages[0]!.reactions).toMatchObject([{ by: igsid, reaction: 'laugh', at: iso(laughAt) }]);
  });

  it('a react with a newer timestamp wins over an older unreact delivered late', async () => {
    const igsid = newIgsid();
    const m = mid();
    await deliver(svc, igBody([textEvent(igsid, 'See you soon', { mid: m, timestamp: ts() })]));
    const unreactAt = ts();
    const reactAt = ts();
    await deliver(svc, igBody([reactionItem(igsid, reactAt, m, 'react', 'wow')]));
    await deliver(svc, igBody([reactionItem(igsid, unreactAt, m, 'unreact')]));
    const { messages } = await threadOf(svc, igsid);
    expect(messages[0]!.reactions).toMatchObject([{ by: igsid, reaction: 'wow', at: iso(reactAt) }]);
  });

  // Updates can overtake their message: the reaction waits on an early row the message then fills.
  it('a reaction delivered before its message still attaches to it', async () => {
    const igsid = newIgsid();
    const m = mid();
    const msgAt = ts();
    await deliver(svc, igBody([reactionItem(igsid, ts(), m, 'react', 'love')]));
    await deliver(svc, igBody([textEvent(igsid, 'late message', { mid: m, timestamp: msgAt })]));
    const { messages } = await threadOf(svc, igsid);
    expect(messages[0]!.reactions).toMatchObject([{ by: igsid, reaction: 'love' }]);
  });
});

describe('unsend and edit', () => {
  it('an unsend marks the message deleted', async () => {
    const igsid = newIgsid();
    const m = mid();
    const at = ts();
    const unsendAt = ts();
    await deliver(svc, igBody([textEvent(igsid, 'oops, wrong chat', { mid: m, timestamp: at })]));
    await deliver(svc, igBody([unsendItem(igsid, unsendAt, m)]));
    const { messages } = await threadOf(svc, igsid);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ mid: m, deletedAt: iso(unsendAt), createdAt: iso(at), type: 'text' });
  });

  it('an unsend that arrives before its message still ends with the message deleted', async () => {
    const igsid = newIgsid();
    const m = mid();
    const at = ts();
    const unsendAt = ts();
    await deliver(svc, igBody([unsendItem(igsid, unsendAt, m)]));
    await deliver(svc, igBody([textEvent(igsid, 'never mind', { mid: m, timestamp: at })]));
    const { conversation, messages } = await threadOf(svc, igsid);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      mid: m,
      direction: 'inbound',
      type: 'text',
      text: 'never mind',
      status: 'received',
      deletedAt: iso(unsendAt),
      createdAt: iso(at),
    });
    expect(conversation.lastInboundAt).toBe(iso(at));
  });

  // The early row an unsend leaves takes the echo's direction and status when the echo comes. (Meta's
  // shape for a business unsend, an echo with is_deleted, is unverified.)
  it('an unsend that overtakes an echo leaves the echo with status sent', async () => {
    const igsid = newIgsid();
    const echo = echoItem(igsid, ts(), { text: 'sent by mistake' });
    const unsendAt = ts();
    await deliver(
      svc,
      igBody([
        {
          sender: { id: ACCOUNT_ID },
          recipient: { id: igsid },
          timestamp: unsendAt,
          message: { mid: echo.message.mid, is_echo: true, is_deleted: true },
        },
      ]),
    );
    await deliver(svc, igBody([echo]));
    const { messages } = await threadOf(svc, igsid);
    expect(messages).toMatchObject([
      { direction: 'outbound', isEcho: true, status: 'sent', deletedAt: iso(unsendAt) },
    ]);
  });

  it('message_edit changes the text and sets editedAt', async () => {
    const igsid = newIgsid();
    const m = mid();
    const editAt = ts() + 5000;
    await deliver(svc, igBody([textEvent(igsid, 'helo', { mid: m, timestamp: editAt - 5000 })]));
    await deliver(svc, igBody([editItem(igsid, editAt, m, 'hello')]));
    const { messages } = await threadOf(svc, igsid);
    expect(messages[0]).toMatchObject({ mid: m, text: 'hello', editedAt: iso(editAt), type: 'text' });
  });

  it('an edit that arrives before its message keeps the edited text', async () => {
    const igsid = newIgsid();
    const m = mid();
    const at = ts();
    const editAt = ts();
    await deliver(svc, igBody([editItem(igsid, editAt, m, 'edited first')]));
    await deliver(svc, igBody([textEvent(igsid, 'original', { mid: m, timestamp: at })]));
    const { messages } = await threadOf(svc, igsid);
    expect(messages[0]).toMatchObject({ mid: m, text: 'edited first', editedAt: iso(editAt), type: 'text' });
  });

  it('an older edit delivered late does not overwrite a newer one', async () => {
    const igsid = newIgsid();
    const m = mid();
    await deliver(svc, igBody([textEvent(igsid, 'v0', { mid: m, timestamp: ts() })]));
    const firstEdit = ts();
    const secondEdit = ts();
    await deliver(svc, igBody([editItem(igsid, secondEdit, m, 'v2', 2)]));
    await deliver(svc, igBody([editItem(igsid, firstEdit, m, 'v1', 1)]));
    const { messages } = await threadOf(svc, igsid);
    expect(messages[0]).toMatchObject({ text: 'v2', editedAt: iso(secondEdit) });
  });
});

describe('read receipts', () => {
  it('marks outbound messages up to the message read as seen, and not later ones', async () => {
    const igsid = newIgsid();
    const e1 = echoItem(igsid, ts(), { text: 'first reply' });
    const inbound = textEvent(igsid, 'ok', { timestamp: ts() });
    const e2 = echoItem(igsid, ts(), { text: 'second reply' });
    const readAt = ts();
    const e3 = echoItem(igsid, ts(), { text: 'third reply' });
    await deliver(svc, igBody([e1, inbound, e2]));
    await deliver(svc, igBody([readItem(igsid, readAt, e2.message.mid)]));
    await deliver(svc, igBody([e3]));

    const { messages } = await threadOf(svc, igsid);
    const byMid = new Map(messages.map((m) => [m.mid, m]));
    expect(byMid.get(e1.message.mid)).toMatchObject({ status: 'seen', seenAt: iso(readAt) });
    expect(byMid.get(e2.message.mid)).toMatchObject({ status: 'seen', seenAt: iso(readAt) });
    expect(byMid.get(e3.message.mid)).toMatchObject({ status: 'sent', seenAt: null });
    // Inbound messages are not the business's to be seen.
    expect(byMid.get(inbound.message.mid)).toMatchObject({ status: 'received', seenAt: null });
  });

  it('a read of an earlier message leaves later outbound messages unseen', async () => {
    const igsid = newIgsid();
    const e1 = echoItem(igsid, ts(), { text: 'one' });
    const e2 = echoItem(igsid, ts(), { text: 'two' });
    const readAt = ts();
    await deliver(svc, igBody([e1, e2]));
    await deliver(svc, igBody([readItem(igsid, readAt, e1.message.mid)]));
    const { messages } = await threadOf(svc, igsid);
    expect(messages.map((m) => [m.text, m.status, m.seenAt])).toEqual([
      ['one', 'seen', iso(readAt)],
      ['two', 'sent', null],
    ]);
  });
  // The read mark stays on the conversation, so a message arriving after the read is seen too.
  it('a read delivered before the message it reads still marks that message seen', async () => {
    const igsid = newIgsid();
    const e1 = echoItem(igsid, ts(), { text: 'one' });
    const e2 = echoItem(igsid, ts(), { text: 'two' });
    const readAt = ts();
    await deliver(svc, igBody([e1]));
    await deliver(svc, igBody([readItem(igsid, readAt, e2.message.mid)]));
    await deliver(svc, igBody([e2]));
    const { messages } = await threadOf(svc, igsid);
    expect(messages.map((m) => [m.text, m.status, m.seenAt])).toEqual([
      ['one', 'seen', iso(readAt)],
      ['two', 'seen', iso(readAt)],
    ]);
  });
});

describe('window and ordering', () => {
  it('a referral alone opens the window', async () => {
    const igsid = newIgsid();
    const at = ts();
    await deliver(svc, igBody([referralItem(igsid, at)]));
    const { conversation, messages } = await threadOf(svc, igsid);
    expect(conversation.lastInboundAt).toBe(iso(at));
    expect(conversation.windowClosesAt).toBe(iso(at + DAY_MS));
    expect(conversation.windowOpen).toBe(true);
    expect(messages).toEqual([]);
  });

  it('out-of-order delivery keeps lastInboundAt at the newest message', async () => {
    const igsid = newIgsid();
    const older = ts();
    const newer = ts();
    await deliver(svc, igBody([textEvent(igsid, 'newer', { timestamp: newer })]));
    await deliver(svc, igBody([textEvent(igsid, 'older', { timestamp: older })]));
    const { conversation, messages } = await threadOf(svc, igsid);
    expect(conversation.lastInboundAt).toBe(iso(newer));
    expect(conversation.lastMessageAt).toBe(iso(newer));
    expect(conversation.windowClosesAt).toBe(iso(newer + DAY_MS));
    expect(messages.map((m) => m.text)).toEqual(['older', 'newer']);
  });

  it('events of one batch are applied in Meta timestamp order', async () => {
    const igsid = newIgsid();
    const m = mid();
    const at = ts();
    const unsendAt = ts();
    // The unsend comes first in the body but is newer than the message.
    await deliver(
      svc,
      igBody([unsendItem(igsid, unsendAt, m), textEvent(igsid, 'gone', { mid: m, timestamp: at })]),
    );
    const { messages } = await threadOf(svc, igsid);
    expect(messages).toMatchObject([{ mid: m, text: 'gone', type: 'text', deletedAt: iso(unsendAt) }]);
  });

  // The embedded projector itself, on the store's file (PostgreSQL's: its batches of 200).
  itOnSqlite('a backlog longer than one read is applied in one batch, in Meta timestamp order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'igdm-apply-backlog-'));
    try {
      const igsid = newIgsid();
      const base = ts();
      clock += 100_000;
      // 70 messages (more than the projector reads at a time), delivered newest first.
      const items = Array.from({ length: 70 }, (_, i) =>
        textEvent(igsid, `message ${i}`, { mid: mid(), timestamp: base + i * 1000 }),
      ).reverse();
      const first = await startTestService({}, dir);
      try {
        await deliver(first, igBody(items));
      } finally {
        await first.stop();
      }
      // As `igdm replay` leaves them: stored, not applied.
      const db = new DatabaseSync(join(dir, 'igdm.sqlite'));
      try {
        db.exec('update webhook_events set applied_at = null; delete from messages');
        const projector = new Projector(db);
        expect(projector.applyPending({ maxEvents: 50, budgetMs: 10_000 })).toMatchObject({
          events: 50,
          more: true,
        });
        expect(projector.applyPending({ maxEvents: 50, budgetMs: 10_000 })).toMatchObject({
          events: 20,
          more: false,
        });
        const texts = db.prepare('select text from messages order by rowid').all();
        expect(texts.map((r) => r['text'])).toEqual(items.map((_, i) => `message ${i}`));
      } finally {
        db.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a message delivered twice is stored once', async () => {
    const igsid = newIgsid();
    const event = textEvent(igsid, 'twice', { timestamp: ts() });
    await deliver(svc, igBody([event]), igBody([event]));
    const { messages } = await threadOf(svc, igsid);
    expect(messages).toHaveLength(1);
  });

  it('messages under standby (another app owns the thread) are still recorded', async () => {
    const igsid = newIgsid();
    const at = ts();
    const item = textEvent(igsid, 'hello from standby', { timestamp: at });
    await deliver(svc, {
      object: 'instagram',
      entry: [{ id: ACCOUNT_ID, time: Date.now(), standby: [item] }],
    });
    const { conversation, messages } = await threadOf(svc, igsid);
    expect(messages).toMatchObject([
      { mid: item.message.mid, text: 'hello from standby', direction: 'inbound', createdAt: iso(at) },
    ]);
    expect(conversation.lastInboundAt).toBe(iso(at));
  });
});

describe('events that are not Instagram direct messages', () => {
  it('page, whatsapp_business_account and comment events are stored but create no conversation', async () => {
    const pageCustomer = newIgsid();
    const commenter = newIgsid();
    const before = await svc.eventCount();
    await deliver(
      svc,
      {
        object: 'page',
        entry: [
          {
            id: '100000000000001',
            time: Date.now(),
            messaging: [
              {
                sender: { id: pageCustomer },
                recipient: { id: '100000000000001' },
                timestamp: ts(),
                message: { mid: mid('m_page'), text: 'Messenger hello' },
              },
            ],
          },
        ],
      },
      {
        object: 'whatsapp_business_account',
        entry: [
          {
            id: '200000000000002',
            changes: [
              {
                field: 'messages',
                value: {
                  messaging_product: 'whatsapp',
                  metadata: { display_phone_number: '15550001111', phone_number_id: '300' },
                  messages: [{ from: pageCustomer, id: mid('wamid'), timestamp: '1700000000', type: 'text' }],
                },
              },
            ],
          },
        ],
      },
      {
        object: 'instagram',
        entry: [
          {
            id: ACCOUNT_ID,
            time: Math.floor(Date.now() / 1000),
            changes: [
              {
                field: 'comments',
                value: {
                  from: { id: commenter, username: 'jane.doe' },
                  id: '17865799348089039',
                  text: 'How much is this?',
                  media: { id: '17887498072083520', media_product_type: 'FEED' },
                },
              },
            ],
          },
        ],
      },
    );
    expect(await svc.eventCount()).toBe(before + 3);
    expect(await conversationOf(svc, pageCustomer)).toBeUndefined();
    expect(await conversationOf(svc, commenter)).toBeUndefined();
  });
});

// SQLITE_FULL (PostgreSQL's full disk: test/postgres/service.test.ts).
describeOnSqlite('a failure of the store while an event is applied', () => {
  let dir: string;
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("is not the event's fault: the event stays unapplied, and is applied once the store works", async () => {
    dir = mkdtempSync(join(tmpdir(), 'igdm-apply-fault-'));
    const igsid = newIgsid();
    // Long enough to need pages of its own (overflow pages) when its message row is written.
    const text = 'a long question about the blue jacket '.repeat(600);
    const first = await startTestService({}, dir);
    try {
      await deliver(first, igBody([textEvent(igsid, text)]));
    } finally {
      await first.stop();
    }

    // The event unapplied again (as igdm replay leaves it), and a store that cannot grow: a real
    // SQLITE_FULL from the statement that writes the message. SQLite rolls the whole transaction
    // back: the event is neither applied nor marked failed.
    const db = new DatabaseSync(join(dir, 'igdm.sqlite'));
    try {
      db.exec('update webhook_events set applied_at = null; delete from messages; vacuum');
      const { pages } = db.prepare('select page_count as pages from pragma_page_count').get() as {
        pages: number;
      };
      db.exec(`PRAGMA max_page_count = ${pages}`);
      expect(() => new Projector(db).applyPending({ maxEvents: 100, budgetMs: 1000 })).toThrow(
        /database or disk is full/,
      );
      const events = db.prepare('select applied_at, apply_error from webhook_events').all();
      expect(events.map((r) => ({ ...r }))).toEqual([{ applied_at: null, apply_error: null }]);
    } finally {
      db.close();
    }

    // The store can grow again: igdm applies the event at its next start.
    const second = await startTestService({}, dir);
    try {
      await second.settled();
      expect((await threadOf(second, igsid)).messages.map((m) => m.text)).toEqual([text]);
      const failed = await second.store.db
        .selectFrom('webhookEvents')
        .select('applyError')
        .where('applyError', 'is not', null)
        .execute();
      expect(failed).toEqual([]);
    } finally {
      await second.stop();
    }
  });
});
