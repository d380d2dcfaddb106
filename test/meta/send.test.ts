import { describe, expect, it } from 'vitest';
import {
  type ContentInput,
  parseContent,
  type Recipient,
  type SendOptions,
  SendValidationError,
  sendBody,
} from '../../src/meta/send.ts';

// Expected bodies follow meta-platform.md "Send API (outbound)"; content follows the SDK shape of the
// seed documents (camelCase, `{ type, [type]: {...} }`). Limits are Meta's, written out, not LIMITS.

const IGSID = '6643928735630271';
const COMMENT_ID = '17858893269000001';
const MID = 'aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1MzA5MjExODQ0';
const CUSTOMER: Recipient = { id: IGSID };
const COMMENT: Recipient = { commentId: COMMENT_ID };

const build = (to: Recipient, content: unknown, options?: SendOptions) =>
  sendBody(to, parseContent(content), options);

/** The issue paths of a refused send; fails the test when the send is accepted. */
function refused(send: () => unknown): string[] {
  try {
    send();
  } catch (e) {
    expect(e).toBeInstanceOf(SendValidationError);
    return (e as SendValidationError).issues.map((i) => i.path);
  }
  throw new Error('expected a SendValidationError, but the send was accepted');
}
const refusedContent = (content: unknown) => refused(() => parseContent(content));
const accepted = (content: unknown) => expect(() => parseContent(content)).not.toThrow();

const text = (t: string, more: Record<string, unknown> = {}) => ({ type: 'text', text: t, ...more });
const quickReplies = (n: number, over: Record<string, unknown> = {}) =>
  Array.from({ length: n }, (_, i) => ({ title: `Option ${i}`, payload: `OPT_${i}`, ...over }));
const postback = (i = 0) => ({ type: 'postback', title: `Pick ${i}`, payload: `PICK_${i}` });
const webUrl = { type: 'web_url', title: 'Shop Now', url: 'https://example.com/summer-collection' };
const generic = (elements: unknown[]) => ({ type: 'template', template: { type: 'generic', elements } });
const element = (over: Record<string, unknown> = {}) => ({ title: 'Summer', subtitle: 'New', ...over });
const buttonTemplate = (t: string, buttons: unknown[]) => ({
  type: 'template',
  template: { type: 'button', text: t, buttons },
});
const image = (payload: Record<string, unknown>) => ({ type: 'image', image: payload });

// Content that travels as `message`, with the `message` Meta expects for it.
const MESSAGES: [name: string, content: ContentInput, message: Record<string, unknown>][] = [
  ['text', { type: 'text', text: 'Thanks for reaching out!' }, { text: 'Thanks for reaching out!' }],
  [
    'text with quick replies',
    {
      type: 'text',
      text: 'What are you looking for today?',
      quickReplies: [
        { contentType: 'text', title: 'New Arrivals', payload: 'BROWSE_NEW' },
        { title: 'Best Sellers', payload: 'BROWSE_BEST' },
      ],
    },
    {
      text: 'What are you looking for today?',
      quick_replies: [
        { content_type: 'text', title: 'New Arrivals', payload: 'BROWSE_NEW' },
        { content_type: 'text', title: 'Best Sellers', payload: 'BROWSE_BEST' },
      ],
    },
  ],
  ...(['image', 'video', 'audio', 'file'] as const).flatMap(
    (type): [string, ContentInput, Record<string, unknown>][] => [
      [
        `${type} by url`,
        { type, [type]: { url: `https://example.com/${type}.bin` } } as ContentInput,
        { attachment: { type, payload: { url: `https://example.com/${type}.bin` } } },
      ],
      [
        `${type} by attachmentId`,
        { type, [type]: { attachmentId: '1857777774821032' } } as ContentInput,
        { attachment: { type, payload: { attachment_id: '1857777774821032' } } },
      ],
      [
        `${type} by url, reusable`,
        { type, [type]: { url: `https://example.com/${type}.bin`, isReusable: true } } as ContentInput,
        { attachment: { type, payload: { url: `https://example.com/${type}.bin`, is_reusable: true } } },
      ],
    ],
  ),
  [
    'image by url, not reusable',
    { type: 'image', image: { url: 'https://example.com/a.jpg', isReusable: false } },
    { attachment: { type: 'image', payload: { url: 'https://example.com/a.jpg', is_reusable: false } } },
  ],
  ['heart sticker', { type: 'sticker', sticker: { id: 'like' } }, { attachment: { type: 'like_heart' } }],
  [
    'media share',
    { type: 'media_share', mediaShare: { id: '17895695668004550' } },
    { attachment: { type: 'MEDIA_SHARE', payload: { id: '17895695668004550' } } },
  ],
  [
    'generic template',
    {
      type: 'template',
      template: {
        type: 'generic',
        elements: [
          {
            title: 'Summer Collection',
            subtitle: 'Check out our latest arrivals',
            imageUrl: 'https://example.com/summer.jpg',
            defaultAction: { url: 'https://example.com/summer' },
            buttons: [
              { type: 'web_url', title: 'Shop Now', url: 'https://example.com/summer-collection' },
              { type: 'postback', title: 'Learn More', payload: 'SUMMER_INFO' },
            ],
          },
          { title: 'Only a subtitle', subtitle: 'and nothing else' },
          { title: 'Only an image', imageUrl: 'https://example.com/i.png' },
          {
            title: 'Only a default action',
            defaultAction: { type: 'web_url', url: 'https://example.com/d' },
          },
          { title: 'Only buttons', buttons: [{ type: 'postback', title: 'Yes', payload: 'YES' }] },
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
              title: 'Summer Collection',
              subtitle: 'Check out our latest arrivals',
              image_url: 'https://example.com/summer.jpg',
              default_action: { type: 'web_url', url: 'https://example.com/summer' },
              buttons: [
                { type: 'web_url', title: 'Shop Now', url: 'https://example.com/summer-collection' },
                { type: 'postback', title: 'Learn More', payload: 'SUMMER_INFO' },
              ],
            },
            { title: 'Only a subtitle', subtitle: 'and nothing else' },
            { title: 'Only an image', image_url: 'https://example.com/i.png' },
            {
              title: 'Only a default action',
              default_action: { type: 'web_url', url: 'https://example.com/d' },
            },
            { title: 'Only buttons', buttons: [{ type: 'postback', title: 'Yes', payload: 'YES' }] },
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
          { type: 'postback', title: 'Track order', payload: 'TRACK_ORDER' },
          { type: 'web_url', title: 'Our hours', url: 'https://example.com/hours' },
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
            { type: 'postback', title: 'Track order', payload: 'TRACK_ORDER' },
            { type: 'web_url', title: 'Our hours', url: 'https://example.com/hours' },
          ],
        },
      },
    },
  ],
];

describe('Send API bodies: messages', () => {
  describe.each(MESSAGES)('%s', (_name, content, message) => {
    it('to a customer, as a response', () => {
      expect(build(CUSTOMER, content)).toEqual({
        recipient: { id: IGSID },
        messaging_type: 'RESPONSE',
        message,
      });
    });

    it('as a private reply to a comment', () => {
      expect(build(COMMENT, content)).toEqual({
        recipient: { comment_id: COMMENT_ID },
        messaging_type: 'RESPONSE',
        message,
      });
    });

    it('quoting a message', () => {
      expect(build(CUSTOMER, content, { replyTo: MID })).toEqual({
        recipient: { id: IGSID },
        messaging_type: 'RESPONSE',
        message,
        reply_to: { mid: MID },
      });
    });

    it('from a human agent (HUMAN_AGENT tag), quoting a message', () => {
      expect(build(CUSTOMER, content, { humanAgent: true, replyTo: MID })).toEqual({
        recipient: { id: IGSID },
        messaging_type: 'MESSAGE_TAG',
        tag: 'HUMAN_AGENT',
        message,
        reply_to: { mid: MID },
      });
      expect(build(COMMENT, content, { humanAgent: true })).toEqual({
        recipient: { comment_id: COMMENT_ID },
        messaging_type: 'MESSAGE_TAG',
        tag: 'HUMAN_AGENT',
        message,
      });
    });

    it('without a human agent: no tag', () => {
      expect(build(CUSTOMER, content, { humanAgent: false })).toEqual({
        recipient: { id: IGSID },
        messaging_type: 'RESPONSE',
        message,
      });
    });
  });

  it('sends text as written: no trimming of whitespace or newlines', () => {
    const t = '  indented\n\nline two\n';
    expect(build(CUSTOMER, text(t)).message).toEqual({ text: t });
    const qr = { title: ' Yes ', payload: ' YES ' };
    expect(build(CUSTOMER, text('Sure?', { quickReplies: [qr] })).message).toEqual({
      text: 'Sure?',
      quick_replies: [{ content_type: 'text', ...qr }],
    });
  });
});

describe('Send API bodies: sender actions', () => {
  const ACTIONS: [name: string, content: ContentInput, body: Record<string, unknown>][] = [
    [
      'react',
      { type: 'reaction', messageId: MID, reaction: 'like' },
      { sender_action: 'react', payload: { message_id: MID, reaction: 'like' } },
    ],
    [
      'react, love by default',
      { type: 'reaction', messageId: MID },
      { sender_action: 'react', payload: { message_id: MID, reaction: 'love' } },
    ],
    [
      'unreact (reaction: null)',
      { type: 'reaction', messageId: MID, reaction: null },
      { sender_action: 'unreact', payload: { message_id: MID } },
    ],
    ['typing on', { type: 'typing', on: true }, { sender_action: 'typing_on' }],
    ['typing on by default', { type: 'typing' }, { sender_action: 'typing_on' }],
    ['typing off', { type: 'typing', on: false }, { sender_action: 'typing_off' }],
    ['mark seen', { type: 'mark_seen' }, { sender_action: 'mark_seen' }],
  ];

  describe.each(ACTIONS)('%s', (_name, content, body) => {
    it('is sent alone to the customer: no messaging_type, tag, message or reply_to', () => {
      expect(build(CUSTOMER, content)).toEqual({ recipient: { id: IGSID }, ...body });
      expect(build(CUSTOMER, content, { humanAgent: false })).toEqual({ recipient: { id: IGSID }, ...body });
    });

    it('refuses replyTo and humanAgent', () => {
      expect(refused(() => build(CUSTOMER, content, { replyTo: MID }))).toEqual(['content.type']);
      expect(refused(() => build(CUSTOMER, content, { humanAgent: true }))).toEqual(['content.type']);
    });

    it('refuses a comment as recipient', () => {
      expect(refused(() => build(COMMENT, content))).toEqual(['to']);
    });
  });

  it.each(['like', 'love', 'laugh', 'wow', 'sad', 'angry', 'other'])('accepts the reaction %s', (r) => {
    accepted({ type: 'reaction', messageId: MID, reaction: r });
  });

  it('refuses an unknown reaction or a missing message id', () => {
    expect(refusedContent({ type: 'reaction', messageId: MID, reaction: 'haha' })).toEqual([
      'content.reaction',
    ]);
    expect(refusedContent({ type: 'reaction', messageId: '' })).toEqual(['content.messageId']);
    expect(refusedContent({ type: 'reaction' })).toEqual(['content.messageId']);
  });
});

describe('Meta limits', () => {
  describe('text: 1000 bytes of UTF-8', () => {
    it('counts bytes, not characters', () => {
      accepted(text('a'.repeat(1000)));
      expect(refusedContent(text('a'.repeat(1001)))).toEqual(['content.text']);
      // 'é' is 2 bytes: 500 of them are 1000 bytes.
      accepted(text('é'.repeat(500)));
      expect(refusedContent(text('é'.repeat(501)))).toEqual(['content.text']);
      // '😀' is 4 bytes (and 2 UTF-16 units).
      accepted(text('😀'.repeat(250)));
      expect(refusedContent(text('😀'.repeat(251)))).toEqual(['content.text']);
      accepted(text('a'.repeat(998) + 'é'));
      expect(refusedContent(text('a'.repeat(999) + 'é'))).toEqual(['content.text']);
    });

    it('refuses empty, blank or missing text', () => {
      expect(refusedContent(text(''))).toEqual(['content.text']);
      expect(refusedContent(text(' \n\t '))).toEqual(['content.text']);
      expect(refusedContent({ type: 'text' })).toEqual(['content.text']);
      expect(refusedContent(text(42 as unknown as string))).toEqual(['content.text']);
    });
  });

  describe('quick replies', () => {
    it('13 at most, at least 1', () => {
      accepted(text('Pick one', { quickReplies: quickReplies(13) }));
      expect(refusedContent(text('Pick one', { quickReplies: quickReplies(14) }))).toEqual([
        'content.quickReplies[13]',
      ]);
      expect(refusedContent(text('Pick one', { quickReplies: [] }))).toEqual(['content.quickReplies']);
    });

    it('title: 20 characters, an emoji or astral character counting as one', () => {
      const qr = (title: string) => text('Pick', { quickReplies: [{ title, payload: 'P' }] });
      accepted(qr('a'.repeat(20)));
      expect(refusedContent(qr('a'.repeat(21)))).toEqual(['content.quickReplies[0].title']);
      accepted(qr('😀'.repeat(20)));
      expect(refusedContent(qr('😀'.repeat(21)))).toEqual(['content.quickReplies[0].title']);
      accepted(qr('𝒜'.repeat(20)));
      accepted(qr('é'.repeat(20)));
      expect(refusedContent(qr('é'.repeat(21)))).toEqual(['content.quickReplies[0].title']);
      expect(refusedContent(qr(''))).toEqual(['content.quickReplies[0].title']);
    });

    it('payload: 1000 characters, not empty', () => {
      const qr = (payload: string) => text('Pick', { quickReplies: [{ title: 'T', payload }] });
      accepted(qr('p'.repeat(1000)));
      expect(refusedContent(qr('p'.repeat(1001)))).toEqual(['content.quickReplies[0].payload']);
      expect(refusedContent(qr(''))).toEqual(['content.quickReplies[0].payload']);
    });

    it('names the offending quick reply', () => {
      const replies = quickReplies(5);
      replies[3] = { title: 'x'.repeat(21), payload: 'P' };
      expect(refusedContent(text('Pick', { quickReplies: replies }))).toEqual([
        'content.quickReplies[3].title',
      ]);
    });

    it('only text quick replies, only known fields', () => {
      expect(
        refusedContent(
          text('Pick', { quickReplies: [{ contentType: 'user_email', title: 'T', payload: 'P' }] }),
        ),
      ).toEqual(['content.quickReplies[0].contentType']);
      expect(
        refusedContent(
          text('Pick', { quickReplies: [{ title: 'T', payload: 'P', imageUrl: 'https://x.y' }] }),
        ),
      ).toEqual(['content.quickReplies[0].imageUrl']);
    });
  });

  describe('generic template', () => {
    it('10 elements at most, at least 1', () => {
      accepted(generic(Array.from({ length: 10 }, () => element())));
      expect(refusedContent(generic(Array.from({ length: 11 }, () => element())))).toEqual([
        'content.template.elements[10]',
      ]);
      expect(refusedContent(generic([]))).toEqual(['content.template.elements']);
    });

    it('title and subtitle: 80 characters', () => {
      accepted(generic([element({ title: 't'.repeat(80), subtitle: 's'.repeat(80) })]));
      accepted(generic([element({ title: '😀'.repeat(80) })]));
      expect(refusedContent(generic([element({ title: 't'.repeat(81) })]))).toEqual([
        'content.template.elements[0].title',
      ]);
      expect(refusedContent(generic([element({ subtitle: 's'.repeat(81) })]))).toEqual([
        'content.template.elements[0].subtitle',
      ]);
      expect(refusedContent(generic([element({ title: '' })]))).toEqual([
        'content.template.elements[0].title',
      ]);
    });

    it('a title plus at least one more field', () => {
      expect(refusedContent(generic([{ title: 'Only a title' }]))).toEqual(['content.template.elements[0]']);
      expect(refusedContent(generic([element(), { title: 'Only a title' }]))).toEqual([
        'content.template.elements[1]',
      ]);
      expect(refusedContent(generic([{ subtitle: 'No title' }]))).toEqual([
        'content.template.elements[0].title',
      ]);
    });

    it('3 buttons at most, at least 1 when given', () => {
      const withButtons = (n: number) =>
        generic([element({ buttons: Array.from({ length: n }, (_, i) => postback(i)) })]);
      accepted(withButtons(3));
      expect(refusedContent(withButtons(4))).toEqual(['content.template.elements[0].buttons[3]']);
      expect(refusedContent(withButtons(0))).toEqual(['content.template.elements[0].buttons']);
    });

    it('https for imageUrl and the default action', () => {
      expect(refusedContent(generic([element({ imageUrl: 'http://example.com/a.jpg' })]))).toEqual([
        'content.template.elements[0].imageUrl',
      ]);
      expect(refusedContent(generic([element({ defaultAction: { url: 'http://example.com' } })]))).toEqual([
        'content.template.elements[0].defaultAction.url',
      ]);
      expect(
        refusedContent(generic([element({ defaultAction: { type: 'postback', url: 'https://x.y' } })])),
      ).toEqual(['content.template.elements[0].defaultAction.type']);
    });
  });

  describe('button template', () => {
    it('text: 640 characters, not empty', () => {
      accepted(buttonTemplate('t'.repeat(640), [postback()]));
      accepted(buttonTemplate('é'.repeat(640), [postback()]));
      expect(refusedContent(buttonTemplate('t'.repeat(641), [postback()]))).toEqual([
        'content.template.text',
      ]);
      expect(refusedContent(buttonTemplate('', [postback()]))).toEqual(['content.template.text']);
    });

    it('1 to 3 buttons', () => {
      accepted(buttonTemplate('Pick', [postback(0), postback(1), webUrl]));
      expect(refusedContent(buttonTemplate('Pick', [postback(0), postback(1), postback(2), webUrl]))).toEqual(
        ['content.template.buttons[3]'],
      );
      expect(refusedContent(buttonTemplate('Pick', []))).toEqual(['content.template.buttons']);
      expect(refusedContent({ type: 'template', template: { type: 'button', text: 'Pick' } })).toEqual([
        'content.template.buttons',
      ]);
    });

    it('buttons: title 20 characters, postback payload 1000, https web_url, known types only', () => {
      accepted(buttonTemplate('Pick', [{ ...postback(), title: 'b'.repeat(20) }]));
      expect(refusedContent(buttonTemplate('Pick', [{ ...postback(), title: 'b'.repeat(21) }]))).toEqual([
        'content.template.buttons[0].title',
      ]);
      accepted(buttonTemplate('Pick', [{ ...postback(), payload: 'p'.repeat(1000) }]));
      expect(refusedContent(buttonTemplate('Pick', [{ ...postback(), payload: 'p'.repeat(1001) }]))).toEqual([
        'content.template.buttons[0].payload',
      ]);
      expect(refusedContent(buttonTemplate('Pick', [{ ...webUrl, url: 'http://example.com' }]))).toEqual([
        'content.template.buttons[0].url',
      ]);
      expect(
        refusedContent(buttonTemplate('Pick', [{ type: 'phone_number', title: 'Call', payload: '+1555' }])),
      ).toEqual(['content.template.buttons[0].type']);
      expect(refusedContent(buttonTemplate('Pick', [{ ...webUrl, payload: 'X' }]))).toEqual([
        'content.template.buttons[0].payload',
      ]);
    });

    it('refuses an unknown template type', () => {
      expect(refusedContent({ type: 'template', template: { type: 'media', elements: [] } })).toEqual([
        'content.template.type',
      ]);
    });
  });

  describe('media', () => {
    it('url must be https', () => {
      accepted(image({ url: 'https://example.com/a.jpg' }));
      for (const url of ['http://example.com/a.jpg', 'ftp://example.com/a.jpg', 'example.com/a.jpg', '']) {
        expect(refusedContent(image({ url }))).toEqual(['content.image.url']);
      }
    });

    it('exactly one of url or attachmentId', () => {
      expect(
        refusedContent(image({ url: 'https://example.com/a.jpg', attachmentId: '1857777774821032' })),
      ).toEqual(['content.image']);
      expect(refusedContent(image({}))).toEqual(['content.image']);
      expect(refusedContent(image({ isReusable: true }))).toEqual(['content.image']);
      expect(refusedContent(image({ attachmentId: '' }))).toEqual(['content.image.attachmentId']);
      expect(refusedContent({ type: 'video' })).toEqual(['content.video']);
    });

    it('the payload sits under its own type', () => {
      expect(refusedContent({ type: 'video', image: { url: 'https://example.com/a.jpg' } })).toEqual([
        'content.video',
        'content.image',
      ]);
    });
  });

  describe('stickers and media shares', () => {
    it('only the heart sticker', () => {
      expect(refusedContent({ type: 'sticker', sticker: { id: 'smile' } })).toEqual(['content.sticker.id']);
      expect(refusedContent({ type: 'sticker' })).toEqual(['content.sticker']);
    });

    it('a media share needs the post id', () => {
      expect(refusedContent({ type: 'media_share', mediaShare: { id: '' } })).toEqual([
        'content.mediaShare.id',
      ]);
      expect(refusedContent({ type: 'media_share', mediaShare: {} })).toEqual(['content.mediaShare.id']);
    });
  });

  describe('shape', () => {
    it('refuses an unknown or missing content type', () => {
      expect(refusedContent({ type: 'location', location: { lat: 0, long: 0 } })).toEqual(['content.type']);
      expect(refusedContent({ text: 'no type' })).toEqual(['content.type']);
      expect(refusedContent(null)).toEqual(['content']);
      expect(refusedContent('hello')).toEqual(['content']);
    });

    it('refuses unknown fields at every level (strict), naming each', () => {
      expect(refusedContent(text('hi', { foo: 1 }))).toEqual(['content.foo']);
      expect(refusedContent(text('hi', { quick_replies: [] }))).toEqual(['content.quick_replies']);
      expect(refusedContent(text('hi', { foo: 1, bar: 2 }))).toEqual(['content.foo', 'content.bar']);
      expect(refusedContent(image({ url: 'https://example.com/a.jpg', caption: 'Nice' }))).toEqual([
        'content.image.caption',
      ]);
      expect(refusedContent(generic([element({ image_url: 'https://example.com/a.jpg' })]))).toEqual([
        'content.template.elements[0].image_url',
      ]);
      expect(refusedContent({ type: 'mark_seen', on: true })).toEqual(['content.on']);
    });

    it('reports every problem at once, in a readable message', () => {
      let error: unknown;
      try {
        parseContent(text('', { quickReplies: quickReplies(14) }));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SendValidationError);
      const { issues, message } = error as SendValidationError;
      expect(issues.map((i) => i.path)).toEqual(['content.text', 'content.quickReplies[13]']);
      expect(message).toContain('content.text: must not be empty');
      expect(message).toContain('content.quickReplies[13]: must have at most 13 quick replies');
    });
  });
});
