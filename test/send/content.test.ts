import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxService, startSandboxService, until } from './support.ts';

// Every content type of POST /v1/messages, end to end: the API queues it (202), the sender sends
// it to the sandbox's Send API with exactly Meta's body, the message ends `sent` with the mid Meta
// gave, and the echo Meta sends back is the same message, not a second one.

let svc: SandboxService;
let customers = 0;

beforeAll(async () => {
  svc = await startSandboxService();
});
afterAll(async () => {
  await svc?.stop();
});

/** A customer who just wrote (the window is open), with the mid of what they wrote. */
const writtenCustomer = () => svc.customer({ from: `content customer ${++customers}`, text: 'hello' });

/** The Send API calls the sandbox got for one customer. */
const callsTo = async (igsid: string) => (await svc.outbox()).filter((e) => e.recipientId === igsid);

/** The sandbox's Graph API, called directly with the channel's token (as an operator's script would). */
async function upload(type: string, url: string): Promise<string> {
  const { accessToken, accountId } = svc.sandbox!.options;
  const res = await fetch(`${svc.url}/sandbox/graph/v24.0/${accountId}/message_attachments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      platform: 'instagram',
      message: { attachment: { type, payload: { url, is_reusable: true } } },
    }),
  });
  const body = (await res.json()) as { attachment_id: string };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.attachment_id;
}

const url = (name: string) => `https://cdn.example.com/media/${name}`;

type Case = [name: string, content: unknown, message: unknown];

const MESSAGES: Case[] = [
  ['text', { type: 'text', text: 'Hello there 👋' }, { text: 'Hello there 👋' }],
  [
    'text with quick replies',
    {
      type: 'text',
      text: 'Pick one',
      quickReplies: [
        { title: 'Red', payload: 'COLOR_RED' },
        { contentType: 'text', title: 'Blue', payload: 'COLOR_BLUE' },
      ],
    },
    {
      text: 'Pick one',
      quick_replies: [
        { content_type: 'text', title: 'Red', payload: 'COLOR_RED' },
        { content_type: 'text', title: 'Blue', payload: 'COLOR_BLUE' },
      ],
    },
  ],
  ...(['image', 'video', 'audio', 'file'] as const).map(
    (t): Case => [
      `${t} by url`,
      { type: t, [t]: { url: url(`a.${t}`) } },
      { attachment: { type: t, payload: { url: url(`a.${t}`) } } },
    ],
  ),
  [
    'image by url, reusable',
    { type: 'image', image: { url: url('r.png'), isReusable: true } },
    { attachment: { type: 'image', payload: { url: url('r.png'), is_reusable: true } } },
  ],
  ['sticker', { type: 'sticker', sticker: { id: 'like' } }, { attachment: { type: 'like_heart' } }],
  [
    'media share',
    { type: 'media_share', mediaShare: { id: '17900000000000001' } },
    { attachment: { type: 'MEDIA_SHARE', payload: { id: '17900000000000001' } } },
  ],
  [
    'generic template',
    {
      type: 'template',
      template: {
        type: 'generic',
        elements: [
          {
            title: 'Blue shoes',
            subtitle: 'Size 42',
            imageUrl: url('shoes.png'),
            defaultAction: { url: 'https://shop.example.com/shoes' },
            buttons: [
              { type: 'web_url', title: 'Buy', url: 'https://shop.example.com/buy' },
              { type: 'postback', title: 'Later', payload: 'LATER' },
            ],
          },
          { title: 'Red shoes', subtitle: 'Size 40' },
        ],
      },
    },
    {
      attachment: {
        type: 'template',
        payload: {
          template_type: 'generic',
          elements: [
            {
              title: 'Blue shoes',
              subtitle: 'Size 42',
              image_url: url('shoes.png'),
              default_action: { type: 'web_url', url: 'https://shop.example.com/shoes' },
              buttons: [
                { type: 'web_url', title: 'Buy', url: 'https://shop.example.com/buy' },
                { type: 'postback', title: 'Later', payload: 'LATER' },
              ],
            },
            { title: 'Red shoes', subtitle: 'Size 40' },
          ],
        },
      },
    },
  ],
  [
    'button template',
    {
      type: 'template',
      template: {
        type: 'button',
        text: 'How can we help?',
        buttons: [
          { type: 'postback', title: 'Order status', payload: 'ORDER' },
          { type: 'web_url', title: 'FAQ', url: 'https://shop.example.com/faq' },
        ],
      },
    },
    {
      attachment: {
        type: 'template',
        payload: {
          template_type: 'button',
          text: 'How can we help?',
          buttons: [
            { type: 'postback', title: 'Order status', payload: 'ORDER' },
            { type: 'web_url', title: 'FAQ', url: 'https://shop.example.com/faq' },
          ],
        },
      },
    },
  ],
];

describe('messages: 202 queued, Meta gets exactly the body, `sent` with its mid, the echo is the same message', () => {
  it.each(MESSAGES)('%s', async (_name, content, message) => {
    const { igsid } = await writtenCustomer();
    const r = await svc.send({ to: igsid, content });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body).toMatchObject({ id: expect.stringMatching(/^msg_/), status: 'queued', mid: null });

    const sent = await svc.waitMessage(r.body.id);
    const calls = await callsTo(igsid);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.body).toEqual({ recipient: { id: igsid }, messaging_type: 'RESPONSE', message });
    expect(calls[0]!.answer.status).toBe(200);
    expect(calls[0]!.messageId).toEqual(expect.any(String));
    expect(sent).toMatchObject({ id: r.body.id, status: 'sent', mid: calls[0]!.messageId, error: null });

    const outbound = (await svc.thread(igsid)).filter((m) => m.direction === 'outbound');
    expect(outbound).toHaveLength(1);
    expect(outbound[0]).toMatchObject({
      id: r.body.id,
      mid: calls[0]!.messageId,
      isEcho: true,
      status: 'sent',
    });
  });

  it.each(['image', 'video', 'audio', 'file'] as const)(
    '%s by attachmentId (uploaded to the sandbox)',
    async (t) => {
      const { igsid } = await writtenCustomer();
      const attachmentId = await upload(t, url(`up.${t}`));
      const r = await svc.send({ to: igsid, content: { type: t, [t]: { attachmentId } } });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      const sent = await svc.waitMessage(r.body.id);
      const calls = await callsTo(igsid);
      expect(calls.map((c) => c.body)).toEqual([
        {
          recipient: { id: igsid },
          messaging_type: 'RESPONSE',
          message: { attachment: { type: t, payload: { attachment_id: attachmentId } } },
        },
      ]);
      expect(sent).toMatchObject({ status: 'sent', mid: calls[0]!.messageId });
      const outbound = (await svc.thread(igsid)).filter((m) => m.direction === 'outbound');
      expect(outbound).toHaveLength(1);
      expect(outbound[0]).toMatchObject({ id: r.body.id, isEcho: true, type: t });
    },
  );

  it('a reply quotes the customer message (reply_to)', async () => {
    const { igsid, mid } = await writtenCustomer();
    const r = await svc.send({ to: igsid, content: { type: 'text', text: 'Quoted' }, replyTo: mid });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const sent = await svc.waitMessage(r.body.id);
    const calls = await callsTo(igsid);
    expect(calls.map((c) => c.body)).toEqual([
      {
        recipient: { id: igsid },
        messaging_type: 'RESPONSE',
        message: { text: 'Quoted' },
        reply_to: { mid },
      },
    ]);
    expect(sent.mid).toBe(calls[0]!.messageId);
    expect((await svc.thread(igsid)).filter((m) => m.direction === 'outbound')).toHaveLength(1);
  });
});

describe('sender actions: 202 {id: out_..., status}, Meta gets the action alone, no message row', () => {
  const ACTIONS: [string, (mid: string) => unknown, (mid: string) => Record<string, unknown>][] = [
    [
      'reaction (react)',
      (mid) => ({ type: 'reaction', messageId: mid, reaction: 'love' }),
      (mid) => ({ sender_action: 'react', payload: { message_id: mid, reaction: 'love' } }),
    ],
    [
      'reaction (unreact)',
      (mid) => ({ type: 'reaction', messageId: mid, reaction: null }),
      (mid) => ({ sender_action: 'unreact', payload: { message_id: mid } }),
    ],
    ['typing on', () => ({ type: 'typing', on: true }), () => ({ sender_action: 'typing_on' })],
    ['typing off', () => ({ type: 'typing', on: false }), () => ({ sender_action: 'typing_off' })],
    ['mark_seen', () => ({ type: 'mark_seen' }), () => ({ sender_action: 'mark_seen' })],
  ];

  it.each(ACTIONS)('%s', async (_name, content, action) => {
    const { igsid, mid } = await writtenCustomer();
    const before = await svc.counts();
    const r = await svc.send({ to: igsid, content: content(mid) });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(r.body).toMatchObject({ id: expect.stringMatching(/^out_/), status: 'queued' });

    const done = await svc.waitMessage(r.body.id);
    expect(done).toMatchObject({ id: r.body.id, status: 'sent', error: null });
    const calls = await callsTo(igsid);
    expect(calls.map((c) => c.body)).toEqual([{ recipient: { id: igsid }, ...action(mid) }]);
    expect(calls[0]!.answer).toEqual({ status: 200, body: { recipient_id: igsid } });
    // No message of its own, no echo: the conversation holds the customer's message only.
    expect((await svc.counts()).outbound).toBe(before.outbound);
    const thread = await svc.thread(igsid);
    expect(thread.map((m) => m.direction)).toEqual(['inbound']);
  });

  it("igdm's reaction shows on the customer's message, and goes away when unreacted", async () => {
    const { igsid, mid } = await writtenCustomer();
    const react = await svc.send({
      to: igsid,
      content: { type: 'reaction', messageId: mid, reaction: 'wow' },
    });
    await svc.waitMessage(react.body.id);
    const reactions = async () => (await svc.thread(igsid))[0]!.reactions;
    expect(await reactions()).toEqual([expect.objectContaining({ reaction: 'wow' })]);
    const unreact = await svc.send({
      to: igsid,
      content: { type: 'reaction', messageId: mid, reaction: null },
    });
    await svc.waitMessage(unreact.body.id);
    await until(reactions, (r) => r.length === 0, 'reaction removed');
  });
});
