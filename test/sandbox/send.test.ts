import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ContentInput, parseContent, sendBody } from '../../src/meta/send.ts';
import {
  ACCOUNT,
  Clock,
  type Gateway,
  HOUR,
  type Sandbox,
  startGateway,
  startSandbox,
  TOKEN,
  writtenCustomer,
} from './support.ts';

// The emulated Send API: bodies validated as Meta validates them, Meta's success and error shapes,
// the echo, private replies, the token, and the outbox of what was sent.

let gateway: Gateway;
let sandbox: Sandbox;
let igsid: string;
const clock = new Clock();

beforeAll(async () => {
  gateway = await startGateway();
  sandbox = await startSandbox(gateway, { now: clock.now, appId: '777000111' });
  igsid = await writtenCustomer(sandbox);
});
afterAll(async () => {
  await sandbox.close();
  await gateway.close();
});
beforeEach(async () => {
  await sandbox.state.delivery.settled();
  gateway.received.length = 0;
});

const send = (body: unknown, path = 'me/messages') => sandbox.graph('POST', path, { body });
const to = (extra: Record<string, unknown>) => ({ recipient: { id: igsid }, ...extra });
const text = (t: string, extra: Record<string, unknown> = {}) => to({ message: { text: t, ...extra } });
const attachment = (type: string, payload?: unknown) => to({ message: { attachment: { type, payload } } });
const qr = (n: number, over: Record<string, unknown> = {}) =>
  Array.from({ length: n }, (_, i) => ({
    content_type: 'text',
    title: `Option ${i}`,
    payload: `P${i}`,
    ...over,
  }));
const element = (over: Record<string, unknown> = {}) => ({ title: 'Shoe', subtitle: 'Red', ...over });
const button = (i = 0) => ({ type: 'postback', title: `B${i}`, payload: `P${i}` });
const generic = (elements: unknown[]) => attachment('template', { template_type: 'generic', elements });

describe('Send API validation: Meta error shape and codes', () => {
  const CASES: [string, () => unknown, RegExp, number?][] = [
    ['no recipient', () => ({ message: { text: 'x' } }), /The parameter recipient is required/],
    [
      'id and comment_id',
      () => ({ recipient: { id: igsid, comment_id: '1' }, message: { text: 'x' } }),
      /exactly one of id or comment_id/,
    ],
    [
      'a recipient id that is not an id',
      () => ({ recipient: { id: 'maria' }, message: { text: 'x' } }),
      /recipient\[id\] must be a valid ID string/,
    ],
    ['neither message nor sender_action', () => to({}), /Must send either message or sender_action/],
    [
      'both message and sender_action',
      () => to({ message: { text: 'x' }, sender_action: 'typing_on' }),
      /Must send either/,
    ],
    ['an empty message', () => to({ message: {} }), /Message cannot be empty/],
    [
      'text and attachment',
      () => to({ message: { text: 'x', attachment: { type: 'like_heart' } } }),
      /text or attachment, not both/,
    ],
    [
      'text over 1000 bytes (501 × é)',
      () => text('é'.repeat(501)),
      /message\[text\] must be less than or equal to 1000 bytes/,
    ],
    [
      'an unknown message field',
      () => to({ message: { text: 'x', buttons: [] } }),
      /message\[buttons\] is not a valid parameter/,
    ],
    [
      '14 quick replies',
      () => text('x', { quick_replies: qr(14) }),
      /message\[quick_replies\] must have at most 13 elements/,
    ],
    [
      'a quick reply title of 21 characters',
      () => text('x', { quick_replies: qr(1, { title: 'x'.repeat(21) }) }),
      /\[title\] must be less than or equal to 20/,
    ],
    [
      'a quick reply payload of 1001 characters',
      () => text('x', { quick_replies: qr(1, { payload: 'p'.repeat(1001) }) }),
      /\[payload\] must be less than or equal to 1000/,
    ],
    [
      'a quick reply of another content type',
      () => text('x', { quick_replies: qr(1, { content_type: 'user_email' }) }),
      /content_type\] must be one of \{text\}/,
    ],
    [
      'quick replies without text',
      () => to({ message: { attachment: { type: 'like_heart' }, quick_replies: qr(1) } }),
      /only be sent with message\[text\]/,
    ],
    [
      'an unknown attachment type',
      () => attachment('sticker', {}),
      /message\[attachment\]\[type\] must be one of/,
    ],
    [
      'media over http',
      () => attachment('image', { url: 'http://cdn.example/a.jpg' }),
      /\[url\] must be a valid https URL/,
    ],
    [
      'media with url and attachment_id',
      () => attachment('image', { url: 'https://x.example/a.jpg', attachment_id: '1' }),
      /exactly one of url or attachment_id/,
    ],
    [
      'media with an unknown attachment_id',
      () => attachment('video', { attachment_id: '123456' }),
      /\[attachment_id\] is not a valid attachment id/,
    ],
    ['a media share without id', () => attachment('MEDIA_SHARE', {}), /payload\]\[id\] is required/],
    [
      'a generic template of 11 elements',
      () => generic(Array.from({ length: 11 }, () => element())),
      /\[elements\] must have at most 10 elements/,
    ],
    [
      'an element title of 81 characters',
      () => generic([element({ title: 't'.repeat(81) })]),
      /\[title\] must be less than or equal to 80/,
    ],
    [
      'an element subtitle of 81 characters',
      () => generic([element({ subtitle: 's'.repeat(81) })]),
      /\[subtitle\] must be less than or equal to 80/,
    ],
    ['an element with only a title', () => generic([{ title: 'Shoe' }]), /besides its title/],
    [
      'an element with 4 buttons',
      () => generic([element({ buttons: [button(0), button(1), button(2), button(3)] })]),
      /\[buttons\] must have at most 3 elements/,
    ],
    [
      'a button of another type',
      () => generic([element({ buttons: [{ type: 'phone_number', title: 'Call', payload: '+1' }] })]),
      /must be one of \{web_url, postback\}/,
    ],
    [
      'a button template text of 641 characters',
      () => attachment('template', { template_type: 'button', text: 'x'.repeat(641), buttons: [button()] }),
      /\[text\] must be less than or equal to 640/,
    ],
    [
      'a button template without buttons',
      () => attachment('template', { template_type: 'button', text: 'x', buttons: [] }),
      /\[buttons\] must have at least 1 element/,
    ],
    [
      'another template type',
      () => attachment('template', { template_type: 'receipt' }),
      /template_type\] must be one of \{generic, button\}/,
    ],
    [
      'an unknown messaging_type',
      () => to({ messaging_type: 'NOW', message: { text: 'x' } }),
      /messaging_type must be one of/,
    ],
    [
      'another message tag',
      () => to({ messaging_type: 'MESSAGE_TAG', tag: 'ACCOUNT_UPDATE', message: { text: 'x' } }),
      /tag must be one of \{HUMAN_AGENT\}/,
    ],
    [
      'MESSAGE_TAG without a tag',
      () => to({ messaging_type: 'MESSAGE_TAG', message: { text: 'x' } }),
      /The parameter tag is required/,
    ],
    [
      'a tag without MESSAGE_TAG',
      () => to({ messaging_type: 'RESPONSE', tag: 'HUMAN_AGENT', message: { text: 'x' } }),
      /only be used with messaging_type MESSAGE_TAG/,
    ],
    ['an unknown sender action', () => to({ sender_action: 'dance' }), /sender_action must be one of/],
    [
      'a sender action with messaging_type',
      () => to({ sender_action: 'typing_on', messaging_type: 'RESPONSE' }),
      /messaging_type cannot be used with sender_action/,
    ],
    [
      'typing with a payload',
      () => to({ sender_action: 'typing_on', payload: { message_id: 'm' } }),
      /payload cannot be used with sender_action typing_on/,
    ],
    ['react without payload', () => to({ sender_action: 'react' }), /Param payload must be a JSON object/],
    [
      'react with an unknown reaction',
      () => to({ sender_action: 'react', payload: { message_id: 'm', reaction: 'meh' } }),
      /payload\[reaction\] must be one of/,
    ],
    [
      'a sender action to a comment',
      () => ({ recipient: { comment_id: '1' }, sender_action: 'mark_seen' }),
      /need recipient\[id\]/,
    ],
  ];

  it.each(CASES)('%s → code 100', async (_name, body, message) => {
    const r = await send(body());
    expect(r.status).toBe(400);
    expect(r.body).toEqual({
      error: {
        message: expect.stringMatching(/^\(#100\) /),
        type: 'OAuthException',
        code: 100,
        fbtrace_id: expect.stringMatching(/^[\w-]{20,}$/),
      },
    });
    expect(r.body.error.message).toMatch(message);
    expect(r.headers.get('x-app-usage')).toMatch(/"call_count":\d+/);
  });

  it('a customer who never wrote: 100 / 2018001 "No matching user found"', async () => {
    const r = await send({ recipient: { id: '1234567890123456' }, message: { text: 'x' } });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({
      message: '(#100) No matching user found',
      code: 100,
      error_subcode: 2018001,
    });
  });
});

describe('Send API success', () => {
  it('a text: 200 {recipient_id, message_id}, with x-app-usage and x-business-use-case-usage', async () => {
    const r = await send(text('a'.repeat(1000)));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ recipient_id: igsid, message_id: expect.stringMatching(/^m_[\w-]+$/) });
    expect(JSON.parse(r.headers.get('x-app-usage')!)).toEqual({
      call_count: expect.any(Number),
      total_time: expect.any(Number),
      total_cputime: expect.any(Number),
    });
    expect(JSON.parse(r.headers.get('x-business-use-case-usage')!)[ACCOUNT][0]).toMatchObject({
      type: 'instagram',
    });
  });

  it('accepts every body the gateway builds (meta/send.ts sendBody)', async () => {
    const contents: ContentInput[] = [
      {
        type: 'text',
        text: 'hi 👋',
        quickReplies: Array.from({ length: 13 }, (_, i) => ({ title: `t${i}`, payload: `p${i}` })),
      },
      { type: 'image', image: { url: 'https://cdn.example/a.jpg' } },
      { type: 'video', video: { url: 'https://cdn.example/a.mp4', isReusable: true } },
      { type: 'audio', audio: { url: 'https://cdn.example/a.m4a' } },
      { type: 'file', file: { url: 'https://cdn.example/a.pdf' } },
      { type: 'sticker', sticker: { id: 'like' } },
      { type: 'media_share', mediaShare: { id: '17900000000000001' } },
      {
        type: 'template',
        template: {
          type: 'generic',
          elements: Array.from({ length: 10 }, () => ({
            title: 't'.repeat(80),
            subtitle: 's'.repeat(80),
            imageUrl: 'https://cdn.example/i.jpg',
            defaultAction: { url: 'https://shop.example/' },
            buttons: [
              { type: 'web_url' as const, title: 'Open', url: 'https://shop.example/' },
              { type: 'postback' as const, title: 'Buy', payload: 'BUY' },
              { type: 'postback' as const, title: 'Later', payload: 'LATER' },
            ],
          })),
        },
      },
      {
        type: 'template',
        template: {
          type: 'button',
          text: 'x'.repeat(640),
          buttons: [{ type: 'postback', title: 'Yes', payload: 'Y' }],
        },
      },
      { type: 'reaction', messageId: 'aWdfM', reaction: 'love' },
      { type: 'reaction', messageId: 'aWdfM', reaction: null },
      { type: 'typing', on: true },
      { type: 'typing', on: false },
      { type: 'mark_seen' },
    ];
    for (const content of contents) {
      const r = await send(sendBody({ id: igsid }, parseContent(content), {}));
      expect([content.type, r.status, r.body]).toEqual([
        content.type,
        200,
        expect.objectContaining({ recipient_id: igsid }),
      ]);
      const action = ['reaction', 'typing', 'mark_seen'].includes(content.type);
      expect('message_id' in r.body).toBe(!action);
    }
    const quoted = await send(
      sendBody({ id: igsid }, parseContent({ type: 'text', text: 'q' }), { replyTo: 'aWdfM' }),
    );
    expect(quoted.status).toBe(200);
  });

  it('answers sender actions and reactions with recipient_id only', async () => {
    for (const body of [
      to({ sender_action: 'typing_on' }),
      to({ sender_action: 'mark_seen' }),
      to({ sender_action: 'react', payload: { message_id: 'aWdfM', reaction: 'love' } }),
      to({ sender_action: 'unreact', payload: { message_id: 'aWdfM' } }),
    ]) {
      const r = await send(body);
      expect(r.body).toEqual({ recipient_id: igsid });
    }
  });

  it('delivers the echo after a send: is_echo, sender = account, recipient = customer, same mid, app_id', async () => {
    const r = await send(text('Thanks! / Merci 🙏', { quick_replies: qr(1) }));
    const [echo] = await gateway.waitFor(1);
    expect(echo!.signed).toBe(true);
    expect(echo!.raw).toContain('"text":"Thanks! \\/ Merci \\ud83d\\ude4f"');
    expect(echo!.json).toEqual({
      object: 'instagram',
      entry: [
        {
          time: clock.t,
          id: ACCOUNT,
          messaging: [
            {
              sender: { id: ACCOUNT },
              recipient: { id: igsid },
              timestamp: clock.t,
              message: {
                mid: r.body.message_id,
                text: 'Thanks! / Merci 🙏',
                is_echo: true,
                app_id: 777000111,
              },
            },
          ],
        },
      ],
    });
  });

  it('echoes attachments with their URL; no echo for sender actions', async () => {
    await send(to({ sender_action: 'typing_on' }));
    const r = await send(attachment('image', { url: 'https://cdn.example/p.png' }));
    const [echo] = await gateway.waitFor(1);
    expect(gateway.received).toHaveLength(1);
    expect(echo!.json.entry[0].messaging[0].message).toMatchObject({
      mid: r.body.message_id,
      attachments: [{ type: 'image', payload: { url: 'https://cdn.example/p.png' } }],
      is_echo: true,
    });
  });

  it('an uploaded attachment can be sent by attachment_id', async () => {
    const up = await sandbox.graph('POST', `${ACCOUNT}/message_attachments`, {
      body: {
        platform: 'instagram',
        message: {
          attachment: { type: 'audio', payload: { url: 'https://cdn.example/v.m4a', is_reusable: true } },
        },
      },
    });
    expect(up.body).toEqual({ attachment_id: expect.stringMatching(/^\d+$/) });
    const r = await send(attachment('audio', { attachment_id: up.body.attachment_id }));
    expect(r.status).toBe(200);
    const [echo] = await gateway.waitFor(1);
    expect(echo!.json.entry[0].messaging[0].message.attachments[0].payload.url).toBe(
      'https://cdn.example/v.m4a',
    );
    const bad = await sandbox.graph('POST', 'me/message_attachments', {
      body: { message: { attachment: { type: 'image', payload: { url: 'http://x.example/a.png' } } } },
    });
    expect(bad.body.error.code).toBe(100);
  });

  it("takes a file's bytes as a multipart form (filedata), checked as Meta checks it", async () => {
    const form = (fields: Record<string, string | Blob>, filename = 'mug.png') => {
      const f = new FormData();
      for (const [k, v] of Object.entries(fields)) {
        if (typeof v === 'string') f.set(k, v);
        else f.set(k, v, filename);
      }
      return f;
    };
    const post = async (body: FormData) => {
      const res = await fetch(`${sandbox.graphApiUrl}/v24.0/me/message_attachments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
        body,
      });
      // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
      return { status: res.status, body: (await res.json()) as any };
    };
    const message = (type: string, payload: object = { is_reusable: true }) =>
      JSON.stringify({ attachment: { type, payload } });
    const png = (n: number) => new Blob([new Uint8Array(n)], { type: 'image/png' });

    const up = await post(form({ platform: 'instagram', message: message('image'), filedata: png(10) }));
    expect(up).toEqual({ status: 200, body: { attachment_id: expect.stringMatching(/^\d+$/) } });
    expect(sandbox.state.attachments.get(up.body.attachment_id)?.file).toEqual({
      filename: 'mug.png',
      contentType: 'image/png',
      size: 10,
    });
    const r = await send(attachment('image', { attachment_id: up.body.attachment_id }));
    expect(r.status).toBe(200);

    const refusals: [FormData, RegExp, number?][] = [
      [form({ platform: 'instagram', message: message('image'), filedata: png(0) }), /must not be empty/],
      [
        form({ platform: 'instagram', message: message('image'), filedata: png(8 * 1024 * 1024 + 1) }),
        /size exceeds/,
        2018109,
      ],
      [
        form({
          platform: 'instagram',
          message: message('image'),
          filedata: new Blob(['x'], { type: 'image/webp' }),
        }),
        /format is not supported: image\/webp/,
        2534080,
      ],
      [form({ platform: 'messenger', message: message('image'), filedata: png(1) }), /platform/],
      [form({ platform: 'instagram', filedata: png(1) }), /message\[attachment\] is required/],
      [form({ platform: 'instagram', message: message('sticker'), filedata: png(1) }), /type/],
      [
        form({
          platform: 'instagram',
          message: message('image', { url: 'https://cdn.example/a.png' }),
          filedata: png(1),
        }),
        /cannot be given with filedata/,
      ],
      [
        form({ platform: 'instagram', message: message('image'), filedata: 'not a file' }),
        /filedata must be a file/,
      ],
    ];
    for (const [body, error, subcode] of refusals) {
      const refused = await post(body);
      expect(refused.status, String(error)).toBe(400);
      expect(refused.body.error).toMatchObject({ code: 100, message: expect.stringMatching(error) });
      if (subcode) expect(refused.body.error.error_subcode).toBe(subcode);
    }
  });

  it('sends through /me, /{ig-id} and the page id; another node is 100 / 33', async () => {
    expect((await send(text('x'), `${ACCOUNT}/messages`)).status).toBe(200);
    const other = await send(text('x'), '999/messages');
    expect(other.body.error).toMatchObject({ code: 100, error_subcode: 33 });
    expect(other.body.error.message).toMatch(
      /^\(#100\) Unsupported post request\. Object with ID '999' does not exist/,
    );
  });

  it('takes form-encoded bodies and the token as access_token, like the Graph API', async () => {
    const url = `${sandbox.graphApiUrl}/v24.0/me/messages?access_token=${TOKEN}`;
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        recipient: JSON.stringify({ id: igsid }),
        message: JSON.stringify({ text: 'form' }),
      }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ recipient_id: igsid });
    // The token never reaches the outbox.
    expect(JSON.stringify((await sandbox.control('GET', '/outbox')).body)).not.toContain(TOKEN);
    expect(JSON.stringify((await sandbox.control('GET', '/calls')).body)).not.toContain(TOKEN);
  });

  it('escapes its answers as Meta does', async () => {
    const r = await sandbox.graph('GET', igsid, { query: { fields: 'profile_pic' } });
    expect(r.raw).toContain('"profile_pic":"http:\\/\\/127.0.0.1:');
  });
});

describe('access token', () => {
  it('a wrong token: HTTP 400, 190 / 463 "Session has expired"', async () => {
    const r = await sandbox.graph('POST', 'me/messages', { body: text('x'), token: 'stale' });
    expect(r.status).toBe(400);
    expect(r.body.error).toEqual({
      message: expect.stringMatching(
        /^Error validating access token: Session has expired on .+\. The current time is .+\.$/,
      ),
      type: 'OAuthException',
      code: 190,
      error_subcode: 463,
      fbtrace_id: expect.any(String),
    });
    expect(r.headers.get('x-app-usage')).toBeTruthy();
  });

  it('no token: 104', async () => {
    const r = await sandbox.graph('GET', 'me', { token: null });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 104, type: 'OAuthException' });
  });
});

describe('private replies', () => {
  it('one per comment, within 7 days', async () => {
    const c = await sandbox.customer({ from: 'paolo', comment: { text: 'How much?' } });
    const commentId = c.body.commentId;
    const reply = { recipient: { comment_id: commentId }, message: { text: 'Sent you the price!' } };
    const first = await send(reply);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ recipient_id: c.body.igsid, message_id: expect.any(String) });
    const second = await send(reply);
    expect(second.body.error).toMatchObject({ code: 100, error_subcode: 2534025 });
    const unknown = await send({ recipient: { comment_id: '1' }, message: { text: 'x' } });
    expect(unknown.body.error).toMatchObject({ code: 100 });

    const late = await sandbox.customer({ from: 'paolo', comment: { text: 'Again?' } });
    clock.advance(7 * 24 * HOUR);
    try {
      const r = await send({ recipient: { comment_id: late.body.commentId }, message: { text: 'x' } });
      expect(r.body.error).toMatchObject({ code: 10, error_subcode: 2534022 });
    } finally {
      clock.advance(-7 * 24 * HOUR);
    }
  });
});

describe('outbox', () => {
  it('lists what the gateway sent, newest last, with the answer; DELETE clears', async () => {
    await sandbox.control('DELETE', '/outbox');
    const ok = await send(text('first'));
    await send(text('é'.repeat(501)));
    const list = await sandbox.control('GET', '/outbox');
    expect(list.body.data).toEqual([
      {
        seq: expect.any(Number),
        time: clock.t,
        method: 'POST',
        path: '/v24.0/me/messages',
        body: text('first'),
        answer: { status: 200, body: ok.body },
        messageId: ok.body.message_id,
        recipientId: igsid,
        failure: null,
      },
      expect.objectContaining({
        answer: { status: 400, body: { error: expect.objectContaining({ code: 100 }) } },
        messageId: null,
      }),
    ]);
    expect((await sandbox.control('DELETE', '/outbox')).body).toEqual({ cleared: 2 });
    expect((await sandbox.control('GET', '/outbox')).body).toEqual({ data: [] });
  });

  it('?after=SEQ lists only the calls after that one (a reader following a long run)', async () => {
    await send(text('one'));
    await send(text('two'));
    await send(text('three'));
    const all = (await sandbox.control('GET', '/outbox')).body.data as { seq: number; body: unknown }[];
    const after = await sandbox.control('GET', `/outbox?after=${all[0]!.seq}`);
    expect(after.body.data.map((e: { body: unknown }) => e.body)).toEqual([text('two'), text('three')]);
    expect((await sandbox.control('GET', `/outbox?after=${all[2]!.seq}`)).body).toEqual({ data: [] });
    expect((await sandbox.control('GET', '/outbox?after=0')).body.data).toHaveLength(3);
    expect((await sandbox.control('GET', '/outbox?after=x')).status).toBe(400);
  });
});
