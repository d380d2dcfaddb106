import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DomainEvent, MessageEvent, RawEvent, RawSource } from '../../src/meta/events.ts';
import { normalise } from '../../src/meta/normalise.ts';

// Payloads follow Meta's documented examples (Instagram Platform webhook examples, Webhooks for
// Instagram Messaging, Messenger messaging_handovers reference), with placeholders filled in.

const IGID = '17841405309211844';
const IGSID = '6643928735630271';
const ENTRY_TIME = 1569262486134;
const TS = 1569262485349;
const base = { accountId: IGID, igsid: IGSID, timestamp: TS, standby: false };

function messaging(item: unknown, over: Partial<RawEvent> = {}): RawEvent {
  return {
    object: 'instagram',
    entryId: IGID,
    entryTime: ENTRY_TIME,
    source: 'messaging',
    payload: item,
    ...over,
  };
}

function change(field: string, value: unknown, over: Partial<RawEvent> = {}): RawEvent {
  return {
    object: 'instagram',
    entryId: IGID,
    entryTime: 1547687043,
    source: 'changes',
    payload: { field, value },
    ...over,
  };
}

/** A customer message item as in Meta's "messages" example. */
function inbound(message: Record<string, unknown>): Record<string, unknown> {
  return { sender: { id: IGSID }, recipient: { id: IGID }, timestamp: TS, message };
}

/** Splits a whole webhook body the way ingest stores it (one RawEvent per item). */
function split(body: {
  object: string;
  entry: Array<{
    id: string;
    time?: number;
    messaging?: unknown[];
    standby?: unknown[];
    changes?: unknown[];
  }>;
}): RawEvent[] {
  const out: RawEvent[] = [];
  for (const e of body.entry) {
    const common = { object: body.object, entryId: e.id, entryTime: e.time ?? null };
    for (const p of e.messaging ?? []) out.push({ ...common, source: 'messaging', payload: p });
    for (const p of e.standby ?? []) out.push({ ...common, source: 'standby', payload: p });
    for (const p of e.changes ?? []) out.push({ ...common, source: 'changes', payload: p });
  }
  return out;
}

function one(raw: RawEvent): DomainEvent {
  const events = normalise(raw);
  expect(events).toHaveLength(1);
  return events[0]!;
}

describe('normalise: messages', () => {
  it('text message (the documented webhook body)', () => {
    const body = {
      object: 'instagram',
      entry: [
        {
          id: IGID,
          time: ENTRY_TIME,
          messaging: [inbound({ mid: 'aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx', text: 'Hello there' })],
        },
      ],
    };
    const raws = split(body);
    expect(raws).toHaveLength(1);
    expect(normalise(raws[0]!)).toEqual([
      {
        ...base,
        kind: 'message',
        mid: 'aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx',
        text: 'Hello there',
        attachments: [],
        isUnsupported: false,
      },
    ]);
  });

  it('ids sent as numbers become strings', () => {
    const raw = messaging({
      sender: { id: 6643928735630271 },
      recipient: { id: 17841405309211844 },
      timestamp: TS,
      message: { mid: 'MID-1', text: 'hi' },
    });
    expect(one(raw)).toEqual({
      ...base,
      kind: 'message',
      mid: 'MID-1',
      text: 'hi',
      attachments: [],
      isUnsupported: false,
    });
  });

  it('page object is accepted too', () => {
    const raw = messaging(inbound({ mid: 'MID-P', text: 'via page' }), { object: 'page' });
    expect(one(raw)).toMatchObject({ kind: 'message', mid: 'MID-P', text: 'via page' });
  });

  it('missing timestamp falls back to entry time, then 0', () => {
    const item = { sender: { id: IGSID }, recipient: { id: IGID }, message: { mid: 'M', text: 't' } };
    expect(one(messaging(item)).timestamp).toBe(ENTRY_TIME);
    expect(one(messaging(item, { entryTime: null })).timestamp).toBe(0);
  });

  it('is_unsupported', () => {
    expect(one(messaging(inbound({ mid: 'MID-U', is_unsupported: true })))).toEqual({
      ...base,
      kind: 'message',
      mid: 'MID-U',
      attachments: [],
      isUnsupported: true,
    });
  });

  it('is_deleted is an unsend', () => {
    expect(one(messaging(inbound({ mid: 'MID-D', is_deleted: true })))).toEqual({
      ...base,
      kind: 'unsend',
      mid: 'MID-D',
    });
  });

  it('is_echo: igsid is the recipient (the customer)', () => {
    const raw = messaging({
      sender: { id: IGID },
      recipient: { id: IGSID },
      timestamp: TS,
      message: { mid: 'MID-E', text: 'Thanks for writing!', is_echo: true, app_id: 1217981644879628 },
    });
    expect(one(raw)).toEqual({
      ...base,
      kind: 'echo',
      mid: 'MID-E',
      text: 'Thanks for writing!',
      attachments: [],
      appId: '1217981644879628',
    });
  });

  it('echo of an unsent business message is an unsend for the customer', () => {
    const raw = messaging({
      sender: { id: IGID },
      recipient: { id: IGSID },
      timestamp: TS,
      message: { mid: 'MID-ED', is_echo: true, is_deleted: true },
    });
    expect(one(raw)).toEqual({ ...base, kind: 'unsend', mid: 'MID-ED' });
  });

  it('quick_reply', () => {
    expect(
      one(messaging(inbound({ mid: 'MID-Q', text: 'Yes', quick_reply: { payload: 'ANSWER_YES' } }))),
    ).toEqual({
      ...base,
      kind: 'message',
      mid: 'MID-Q',
      text: 'Yes',
      attachments: [],
      quickReplyPayload: 'ANSWER_YES',
      isUnsupported: false,
    });
  });

  it('reply_to a message', () => {
    expect(
      one(messaging(inbound({ mid: 'MID-R', text: 'this one', reply_to: { mid: 'MID-ORIG' } }))),
    ).toEqual({
      ...base,
      kind: 'message',
      mid: 'MID-R',
      text: 'this one',
      attachments: [],
      replyTo: { mid: 'MID-ORIG' },
      isUnsupported: false,
    });
  });

  it('reply_to a story (story reply)', () => {
    const raw = messaging(
      inbound({
        mid: 'MID-S',
        text: 'nice story',
        reply_to: {
          story: { url: 'https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1', id: 17920964582089912 },
        },
      }),
    );
    expect(one(raw)).toEqual({
      ...base,
      kind: 'message',
      mid: 'MID-S',
      text: 'nice story',
      attachments: [],
      replyTo: {
        story: { url: 'https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1', id: '17920964582089912' },
      },
      isUnsupported: false,
    });
  });

  it('referral inside a message (ad click to message)', () => {
    const referral = {
      ref: 'summer_sale',
      ad_id: '23851234567890123',
      source: 'ADS',
      type: 'OPEN_THREAD',
      ads_context_data: { ad_title: 'Summer sale', photo_url: 'https://example.com/p.jpg' },
    };
    expect(one(messaging(inbound({ mid: 'MID-AD', text: 'Is this available?', referral })))).toEqual({
      ...base,
      kind: 'message',
      mid: 'MID-AD',
      text: 'Is this available?',
      attachments: [],
      referral: {
        ref: 'summer_sale',
        source: 'ADS',
        type: 'OPEN_THREAD',
        adId: '23851234567890123',
        raw: referral,
      },
      isUnsupported: false,
    });
  });
});

describe('normalise: attachments', () => {
  const cdn = 'https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17895695668004550&signature=abc';

  function attachmentEvent(attachments: unknown[]): MessageEvent {
    const e = one(messaging(inbound({ mid: 'MID-A', attachments })));
    if (e.kind !== 'message') throw new Error(`expected a message, got ${e.kind}`);
    return e;
  }

  it.each(['image', 'video', 'audio', 'file'])('%s', (type) => {
    expect(attachmentEvent([{ type, payload: { url: cdn } }])).toEqual({
      ...base,
      kind: 'message',
      mid: 'MID-A',
      attachments: [{ type, url: cdn, payload: { url: cdn } }],
      isUnsupported: false,
    });
  });

  it('several attachments keep their order', () => {
    const e = attachmentEvent([
      { type: 'image', payload: { url: 'https://cdn/1' } },
      { type: 'image', payload: { url: 'https://cdn/2' } },
    ]);
    expect(e).toMatchObject({
      attachments: [
        { type: 'image', url: 'https://cdn/1' },
        { type: 'image', url: 'https://cdn/2' },
      ],
    });
  });

  it('share (legacy: url only)', () => {
    expect(attachmentEvent([{ type: 'share', payload: { url: cdn } }])).toMatchObject({
      attachments: [{ type: 'share', url: cdn, payload: { url: cdn } }],
    });
  });

  it('post share since Nov 2025: share plus ig_post', () => {
    const payload = {
      ig_post_media_id: '18139494541428835',
      title: 'Build a workspace that attracts talent.',
      url: 'https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18139494541428835&signature=x',
    };
    expect(
      attachmentEvent([
        { type: 'share', payload },
        { type: 'ig_post', payload },
      ]),
    ).toEqual({
      ...base,
      kind: 'message',
      mid: 'MID-A',
      attachments: [
        { type: 'share', url: payload.url, title: payload.title, mediaId: '18139494541428835', payload },
        { type: 'ig_post', url: payload.url, title: payload.title, mediaId: '18139494541428835', payload },
      ],
      isUnsupported: false,
    });
  });

  it('story_mention', () => {
    expect(attachmentEvent([{ type: 'story_mention', payload: { url: cdn } }])).toMatchObject({
      attachments: [{ type: 'story_mention', url: cdn, payload: { url: cdn } }],
    });
  });

  it('ig_reel', () => {
    const payload = { reel_video_id: '18008620498589187', title: 'Reel caption #tag', url: cdn };
    expect(attachmentEvent([{ type: 'ig_reel', payload }]).attachments).toEqual([
      { type: 'ig_reel', url: cdn, title: 'Reel caption #tag', mediaId: '18008620498589187', payload },
    ]);
  });

  it('reel (numeric reel_video_id)', () => {
    const payload = { reel_video_id: 18008620498589188, url: cdn };
    expect(attachmentEvent([{ type: 'reel', payload }]).attachments).toEqual([
      { type: 'reel', url: cdn, mediaId: '18008620498589188', payload },
    ]);
  });

  it('ephemeral has no payload', () => {
    expect(attachmentEvent([{ type: 'ephemeral' }]).attachments).toEqual([
      { type: 'ephemeral', payload: {} },
    ]);
  });

  it('template (undocumented)', () => {
    const payload = {
      template_type: 'generic',
      generic: {
        elements: [{ title: 'Shoes', subtitle: 'Red', buttons: [{ type: 'postback', title: 'Buy' }] }],
      },
    };
    expect(attachmentEvent([{ type: 'template', payload }]).attachments).toEqual([
      { type: 'template', payload },
    ]);
  });

  it('template carrying a shared product: the product, as far as Meta describes it', () => {
    // Meta's shape for a shared Shop product (meta/attachments.ts says where it is documented).
    const element = {
      id: '4761234567890',
      retailer_id: 'MUG-BLUE',
      image_url: 'https://scontent.xx.fbcdn.net/v/mug.png',
      title: 'Blue mug',
      subtitle: '$12',
    };
    const payload = {
      product: { elements: [element, { id: 4761234567891, title: null }, { title: 'no id' }] },
    };
    expect(attachmentEvent([{ type: 'template', payload }]).attachments).toEqual([
      {
        type: 'template',
        products: [
          {
            id: '4761234567890',
            retailerId: 'MUG-BLUE',
            name: 'Blue mug',
            price: '$12',
            imageUrl: 'https://scontent.xx.fbcdn.net/v/mug.png',
          },
          { id: '4761234567891' },
        ],
        payload,
      },
    ]);
    // No element with an id: no product, the template kept as it came.
    const odd = { product: { elements: [{ title: 'no id' }] } };
    expect(attachmentEvent([{ type: 'template', payload: odd }]).attachments).toEqual([
      { type: 'template', payload: odd },
    ]);
  });

  it('ig_story (undocumented)', () => {
    const payload = { url: cdn, id: '17920964582089913' };
    expect(attachmentEvent([{ type: 'ig_story', payload }]).attachments).toEqual([
      { type: 'ig_story', url: cdn, mediaId: '17920964582089913', payload },
    ]);
  });

  it('unknown type is kept with its payload', () => {
    const payload = { url: 'https://cdn/x', id: 42, something_new: { a: [1, 2] } };
    expect(attachmentEvent([{ type: 'hologram', payload }]).attachments).toEqual([
      { type: 'hologram', url: 'https://cdn/x', mediaId: '42', payload },
    ]);
  });

  it('a known type in an unexpected shape is still kept', () => {
    const payload = { url: 12, sticker_id: 369239263222822 };
    expect(attachmentEvent([{ type: 'image', payload }]).attachments).toEqual([{ type: 'image', payload }]);
  });
});

describe('normalise: other messaging items', () => {
  it('reaction: react', () => {
    const raw = messaging({
      sender: { id: IGSID },
      recipient: { id: IGID },
      timestamp: TS,
      reaction: { mid: 'MID-X', action: 'react', reaction: 'love', emoji: '\u2764\ufe0f' },
    });
    expect(one(raw)).toEqual({
      ...base,
      kind: 'reaction',
      mid: 'MID-X',
      action: 'react',
      reaction: 'love',
      emoji: '\u2764\ufe0f',
    });
  });

  it('reaction: unreact', () => {
    const raw = messaging({
      sender: { id: IGSID },
      recipient: { id: IGID },
      timestamp: TS,
      reaction: { mid: 'MID-X', action: 'unreact' },
    });
    expect(one(raw)).toEqual({ ...base, kind: 'reaction', mid: 'MID-X', action: 'unreact' });
  });

  it('read (Instagram: mid)', () => {
    const raw = messaging({
      sender: { id: IGSID },
      recipient: { id: IGID },
      timestamp: TS,
      read: { mid: 'MID-R' },
    });
    expect(one(raw)).toEqual({ ...base, kind: 'read', mid: 'MID-R' });
  });

  it('read (Messenger: watermark)', () => {
    const raw = messaging(
      { sender: { id: IGSID }, recipient: { id: IGID }, timestamp: TS, read: { watermark: 1458668856253 } },
      { object: 'page' },
    );
    expect(one(raw)).toEqual({ ...base, kind: 'read', watermark: 1458668856253 });
  });

  it('postback (ice breaker)', () => {
    const raw = messaging({
      sender: { id: IGSID },
      recipient: { id: IGID },
      timestamp: TS,
      postback: { mid: 'MID-PB', title: 'What are your hours?', payload: 'HOURS' },
    });
    expect(one(raw)).toEqual({
      ...base,
      kind: 'postback',
      mid: 'MID-PB',
      title: 'What are your hours?',
      payload: 'HOURS',
    });
  });

  it('postback with referral', () => {
    const referral = { ref: 'from_link', source: 'SHORTLINKS', type: 'OPEN_THREAD' };
    const raw = messaging({
      sender: { id: IGSID },
      recipient: { id: IGID },
      timestamp: TS,
      postback: { mid: 'MID-PB2', title: 'Get started', payload: 'GET_STARTED', referral },
    });
    expect(one(raw)).toEqual({
      ...base,
      kind: 'postback',
      mid: 'MID-PB2',
      title: 'Get started',
      payload: 'GET_STARTED',
      referral: { ref: 'from_link', source: 'SHORTLINKS', type: 'OPEN_THREAD', raw: referral },
    });
  });

  it('referral next to a postback is used as its referral', () => {
    const referral = { ref: 'r2', source: 'SHORTLINKS', type: 'OPEN_THREAD' };
    const raw = messaging({
      sender: { id: IGSID },
      recipient: { id: IGID },
      timestamp: TS,
      postback: { title: 'Start', payload: 'START' },
      referral,
    });
    expect(one(raw)).toEqual({
      ...base,
      kind: 'postback',
      title: 'Start',
      payload: 'START',
      referral: { ref: 'r2', source: 'SHORTLINKS', type: 'OPEN_THREAD', raw: referral },
    });
  });

  it('referral (ig.me link in an existing thread)', () => {
    const referral = { ref: 'spring_promo', source: 'SHORTLINKS', type: 'OPEN_THREAD' };
    const raw = messaging({ sender: { id: IGSID }, recipient: { id: IGID }, timestamp: TS, referral });
    expect(one(raw)).toEqual({
      ...base,
      kind: 'referral',
      referral: { ref: 'spring_promo', source: 'SHORTLINKS', type: 'OPEN_THREAD', raw: referral },
    });
  });

  it('message_edit', () => {
    const raw = messaging({
      sender: { id: IGSID },
      recipient: { id: IGID },
      timestamp: TS,
      message_edit: { mid: 'MID-ED', text: 'corrected text', num_edit: 1 },
    });
    expect(one(raw)).toEqual({ ...base, kind: 'edit', mid: 'MID-ED', text: 'corrected text', numEdit: 1 });
  });

  it('pass_thread_control', () => {
    const raw = messaging({
      sender: { id: IGSID },
      recipient: { id: IGID },
      timestamp: 1458692752478,
      pass_thread_control: {
        previous_owner_app_id: null,
        new_owner_app_id: '123456789',
        metadata: 'Additional content that the caller wants to set',
      },
    });
    expect(one(raw)).toEqual({
      ...base,
      timestamp: 1458692752478,
      kind: 'handover',
      action: 'pass',
      newOwnerAppId: '123456789',
      metadata: 'Additional content that the caller wants to set',
    });
  });

  it('take_thread_control (numeric app id)', () => {
    const raw = messaging({
      sender: { id: IGSID },
      recipient: { id: IGID },
      timestamp: 1458692752478,
      take_thread_control: {
        previous_owner_app_id: '123456789',
        new_owner_app_id: 987654321,
        metadata: 'additional content that the caller wants to set',
      },
    });
    expect(one(raw)).toEqual({
      ...base,
      timestamp: 1458692752478,
      kind: 'handover',
      action: 'take',
      previousOwnerAppId: '123456789',
      newOwnerAppId: '987654321',
      metadata: 'additional content that the caller wants to set',
    });
  });

  it('request_thread_control', () => {
    const raw = messaging({
      sender: { id: IGSID },
      recipient: { id: IGID },
      timestamp: 1458692752478,
      request_thread_control: {
        requested_owner_app_id: 123456789,
        metadata: 'additional content that the caller wants to set',
      },
    });
    expect(one(raw)).toEqual({
      ...base,
      timestamp: 1458692752478,
      kind: 'handover',
      action: 'request',
      requestedOwnerAppId: '123456789',
      metadata: 'additional content that the caller wants to set',
    });
  });

  it('release_thread_control', () => {
    const raw = messaging({
      sender: { id: IGSID },
      recipient: { id: IGID },
      timestamp: 1458692752478,
      release_thread_control: { new_owner_app_id: '263902037430900', metadata: 'done' },
    });
    expect(one(raw)).toEqual({
      ...base,
      timestamp: 1458692752478,
      kind: 'handover',
      action: 'release',
      newOwnerAppId: '263902037430900',
      metadata: 'done',
    });
  });

  it('standby item: standby true', () => {
    const raws = split({
      object: 'instagram',
      entry: [{ id: IGID, time: ENTRY_TIME, standby: [inbound({ mid: 'MID-SB', text: 'hello?' })] }],
    });
    expect(normalise(raws[0]!)).toEqual([
      {
        ...base,
        standby: true,
        kind: 'message',
        mid: 'MID-SB',
        text: 'hello?',
        attachments: [],
        isUnsupported: false,
      },
    ]);
  });
});

describe('normalise: changes', () => {
  const changeBase = { accountId: IGID, timestamp: 1547687043000, standby: false };

  it('comments', () => {
    const value = {
      from: { id: '232323232', username: 'some_user' },
      media: { id: '123123123', media_product_type: 'FEED' },
      id: '17865799348089039',
      parent_id: '17865799348089000',
      text: 'This is an example.',
    };
    expect(one(change('comments', value))).toEqual({
      ...changeBase,
      igsid: '232323232',
      kind: 'comment',
      source: 'comments',
      commentId: '17865799348089039',
      text: 'This is an example.',
      fromUsername: 'some_user',
      parentId: '17865799348089000',
      mediaId: '123123123',
      mediaProductType: 'FEED',
    });
  });

  it('comments: entry time already in ms is kept', () => {
    const value = { id: '1', text: 'x', from: { id: '2', username: 'u' }, media: { id: '3' } };
    expect(one(change('comments', value, { entryTime: 1700000000123 })).timestamp).toBe(1700000000123);
  });

  it("comments: the id as comment_id (a variant of Meta's example pages), and live_comments", () => {
    const value = { comment_id: '17865799348089040', text: 'LINK', from: { id: '5', username: 'u' } };
    expect(one(change('comments', value))).toMatchObject({
      kind: 'comment',
      source: 'comments',
      commentId: '17865799348089040',
      igsid: '5',
      text: 'LINK',
    });
    const live = { id: '17865799348089041', text: 'hi', media: { id: '9', media_product_type: 'LIVE' } };
    expect(one(change('live_comments', live))).toMatchObject({
      kind: 'comment',
      source: 'live_comments',
      commentId: '17865799348089041',
      mediaProductType: 'LIVE',
    });
  });

  it('mentions', () => {
    expect(
      one(change('mentions', { media_id: '17887498072083520', comment_id: '17887498072083521' })),
    ).toEqual({
      ...changeBase,
      igsid: null,
      kind: 'comment',
      source: 'mentions',
      mediaId: '17887498072083520',
      commentId: '17887498072083521',
    });
    expect(one(change('mentions', { media_id: '17887498072083520' }))).toEqual({
      ...changeBase,
      igsid: null,
      kind: 'mention',
      mediaId: '17887498072083520',
    });
  });

  it('story_insights', () => {
    const body = {
      object: 'instagram',
      entry: [
        {
          id: IGID,
          time: 1547687043,
          changes: [
            {
              field: 'story_insights',
              value: {
                media_id: '18023345989012587',
                exits: 1,
                replies: 0,
                reach: 17,
                taps_forward: 12,
                taps_back: 0,
                impressions: 28,
              },
            },
          ],
        },
      ],
    };
    expect(normalise(split(body)[0]!)).toEqual([
      {
        ...changeBase,
        igsid: null,
        kind: 'story_insights',
        mediaId: '18023345989012587',
        metrics: { exits: 1, replies: 0, reach: 17, taps_forward: 12, taps_back: 0, impressions: 28 },
      },
    ]);
  });

  it('unknown field', () => {
    const payload = { field: 'live_reactions', value: { id: '1', text: 'hi' } };
    expect(
      normalise({ object: 'instagram', entryId: IGID, entryTime: 1547687043, source: 'changes', payload }),
    ).toEqual([
      {
        ...changeBase,
        igsid: null,
        kind: 'unknown',
        reason: "unknown change field 'live_reactions'",
        ignored: true,
        payload,
      },
    ]);
  });

  it('Dashboard test event (entry id "0", messaging field under changes)', () => {
    const body = {
      object: 'instagram',
      entry: [
        {
          id: '0',
          time: 1754520281,
          changes: [
            {
              field: 'messages',
              value: {
                sender: { id: '12334' },
                recipient: { id: '23245' },
                timestamp: '1527459824',
                message: { mid: 'random_mid', text: 'random_text' },
              },
            },
          ],
        },
      ],
    };
    expect(normalise(split(body)[0]!)).toEqual([
      {
        accountId: '0',
        igsid: '12334',
        // The sample's timestamp is in seconds (of 2018): entry.time is used, the original kept.
        timestamp: 1754520281000,
        originalTimestamp: '1527459824',
        standby: false,
        kind: 'message',
        mid: 'random_mid',
        text: 'random_text',
        attachments: [],
        isUnsupported: false,
      },
    ]);
  });

  it('Dashboard test event (entry id "0", messaging item)', () => {
    const raws = split({
      object: 'page',
      entry: [
        {
          id: '0',
          time: 1754520281000,
          messaging: [
            {
              sender: { id: '12334' },
              recipient: { id: '23245' },
              timestamp: 1754520281000,
              message: { mid: 'random_mid', text: 'random_text' },
            },
          ],
        },
      ],
    });
    expect(normalise(raws[0]!)).toEqual([
      {
        accountId: '0',
        igsid: '12334',
        timestamp: 1754520281000,
        standby: false,
        kind: 'message',
        mid: 'random_mid',
        text: 'random_text',
        attachments: [],
        isUnsupported: false,
      },
    ]);
  });

  it('comments value without id is unknown', () => {
    const payload = { field: 'comments', value: { text: 'no id' } };
    expect(one(change('comments', payload.value))).toEqual({
      ...changeBase,
      igsid: null,
      kind: 'unknown',
      reason: 'comments value without id or comment_id',
      payload,
    });
  });
});

describe('normalise: unknown', () => {
  const unknownBase = {
    accountId: IGID,
    igsid: null,
    timestamp: ENTRY_TIME,
    standby: false,
    kind: 'unknown',
  };

  it('unknown object', () => {
    const payload = { from: '15551234567', id: 'wamid.X' };
    expect(normalise(messaging(payload, { object: 'whatsapp_business_account' }))).toEqual([
      {
        ...unknownBase,
        reason: "unsupported object 'whatsapp_business_account' for messaging",
        ignored: true,
        payload,
      },
    ]);
  });

  it('unknown source', () => {
    const payload = { anything: true };
    expect(normalise(messaging(payload, { source: 'unknown' }))).toEqual([
      { ...unknownBase, reason: "unknown source 'unknown'", payload },
    ]);
  });

  it('unknown messaging item (Messenger delivery)', () => {
    const payload = {
      sender: { id: IGSID },
      recipient: { id: IGID },
      timestamp: TS,
      delivery: { mids: ['m'] },
    };
    expect(normalise(messaging(payload))).toEqual([
      {
        ...unknownBase,
        timestamp: TS,
        reason: 'unknown messaging item (keys: delivery)',
        ignored: true,
        payload,
      },
    ]);
  });

  it('bad shape: message without mid', () => {
    const payload = inbound({ text: 'no mid' });
    expect(normalise(messaging(payload))).toEqual([
      { ...unknownBase, timestamp: TS, reason: 'bad message: message.mid: Invalid input', payload },
    ]);
  });

  it('bad shape: unknown reaction action', () => {
    const payload = { sender: { id: IGSID }, timestamp: TS, reaction: { mid: 'm', action: 'poke' } };
    const [e] = normalise(messaging(payload));
    expect(e).toMatchObject({ kind: 'unknown', payload });
    expect((e as { reason: string }).reason).toMatch(/^bad reaction: reaction\.action: /);
  });

  it('item that is not an object', () => {
    expect(normalise(messaging('hello', { entryId: null, entryTime: null }))).toEqual([
      {
        ...unknownBase,
        accountId: null,
        timestamp: 0,
        reason: 'messaging item is not an object',
        payload: 'hello',
      },
    ]);
  });

  it('never throws and always yields events of a known kind', () => {
    const kinds = new Set([
      'message',
      'echo',
      'unsend',
      'edit',
      'reaction',
      'read',
      'postback',
      'referral',
      'handover',
      'comment',
      'mention',
      'story_insights',
      'unknown',
    ]);
    const source = fc.oneof(
      fc.constantFrom<RawSource>('messaging', 'standby', 'changes', 'unknown'),
      fc.string() as fc.Arbitrary<RawSource>,
    );
    const object = fc.oneof(fc.constantFrom('instagram', 'page', 'whatsapp_business_account'), fc.string());
    // Random payloads, and payloads that look almost right (random values under the known keys).
    const key = fc.constantFrom(
      'message',
      'reaction',
      'read',
      'postback',
      'referral',
      'message_edit',
      'pass_thread_control',
      'take_thread_control',
      'request_thread_control',
      'release_thread_control',
      'sender',
      'recipient',
      'timestamp',
    );
    const anything = fc.anything({
      withNullPrototype: true,
      withBoxedValues: true,
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withSparseArray: true,
      withTypedArray: true,
    });
    const nearItem = fc.dictionary(key, anything, { maxKeys: 4 });
    const nearChange = fc.record({
      field: fc.constantFrom('comments', 'mentions', 'story_insights', 'messages', 'x'),
      value: anything,
    });
    const payload = fc.oneof(anything, nearItem, nearChange);
    fc.assert(
      fc.property(
        object,
        fc.option(fc.string()),
        fc.option(fc.oneof(fc.integer(), fc.double())),
        source,
        payload,
        (obj, entryId, entryTime, src, p) => {
          const events = normalise({ object: obj, entryId, entryTime, source: src, payload: p });
          expect(events.length).toBeGreaterThanOrEqual(1);
          for (const e of events) {
            expect(kinds.has(e.kind)).toBe(true);
            expect(typeof e.timestamp).toBe('number');
            if (e.kind === 'unknown') {
              expect(e.payload).toBe(p);
              expect(e.reason).not.toMatch(/^normalise failed/);
            }
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
