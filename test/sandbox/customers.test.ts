import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sign } from '../../src/meta/signature.ts';
import {
  ACCOUNT,
  Clock,
  freePort,
  type Gateway,
  type Sandbox,
  SECRET,
  START,
  startGateway,
  startSandbox,
} from './support.ts';

// Simulated customers: each kind of thing a customer does arrives at the gateway as the exact
// webhook Meta would send, escaped the way Meta escapes, and signed with the app secret.

let gateway: Gateway;
let sandbox: Sandbox;
const clock = new Clock();

beforeAll(async () => {
  gateway = await startGateway();
  sandbox = await startSandbox(gateway, { now: clock.now });
});
afterAll(async () => {
  await sandbox.close();
  await gateway.close();
});
afterEach(() => {
  gateway.received.length = 0;
  gateway.status = 200;
});

/** Sends as a customer and returns the answer and the one webhook it produced. */
async function act(action: Record<string, unknown>) {
  const before = gateway.received.length;
  const answer = await sandbox.customer(action);
  expect(answer.status).toBe(200);
  const [hook] = (await gateway.waitFor(before + 1)).slice(before);
  expect(hook!.signed).toBe(true);
  expect(hook!.headers['x-hub-signature-256']).toBe(sign(hook!.raw, SECRET));
  expect(hook!.headers['x-hub-signature']).toBe(sign(hook!.raw, SECRET, 'sha1'));
  expect(hook!.headers['content-type']).toBe('application/json');
  return { answer: answer.body, hook: hook! };
}

/** The exact body Meta sends for one messaging item of `igsid`. */
const messaging = (igsid: string, event: Record<string, unknown>) =>
  JSON.stringify({
    object: 'instagram',
    entry: [
      {
        time: START,
        id: ACCOUNT,
        messaging: [{ sender: { id: igsid }, recipient: { id: ACCOUNT }, timestamp: START, ...event }],
      },
    ],
  });

describe('customer messages arrive as Meta webhooks', () => {
  it('a text message: exact body, signed, answered with mid, igsid and the delivery status', async () => {
    const { answer, hook } = await act({ from: 'ana', text: 'hello' });
    expect(answer).toEqual({
      mid: expect.stringMatching(/^aWdf/),
      igsid: expect.stringMatching(/^\d{16}$/),
      username: expect.stringMatching(/^ana_\d\d$/),
      delivered: { status: 200, body: 'EVENT_RECEIVED' },
    });
    expect(hook.raw).toBe(messaging(answer.igsid, { message: { mid: answer.mid, text: 'hello' } }));
  });

  it('escapes non-ASCII as \\uXXXX (surrogate pairs for emoji) and / as \\/, signing those bytes', async () => {
    const text = 'café / 😀';
    const { answer, hook } = await act({ from: 'ana', text });
    expect(hook.raw).toContain('"text":"caf\\u00e9 \\/ \\ud83d\\ude00"');
    expect(hook.raw).toBe(
      messaging(answer.igsid, { message: { mid: answer.mid, text } })
        .replace('é', '\\u00e9')
        .replace(' / ', ' \\/ ')
        .replace('😀', '\\ud83d\\ude00'),
    );
    expect(/[^\x00-\x7f]/.test(hook.raw)).toBe(false);
    expect(hook.json.entry[0].messaging[0].message.text).toBe(text);
    // Re-serialising breaks the signature: the gateway must verify the bytes as received.
    expect(sign(JSON.stringify(hook.json), SECRET)).not.toBe(hook.headers['x-hub-signature-256']);
  });

  it('attachments, with the given URL or a CDN one', async () => {
    const { answer, hook } = await act({
      from: 'ana',
      attachments: [{ type: 'image', url: 'https://cdn.example/a/b.jpg' }, { type: 'video' }],
    });
    expect(hook.raw).toContain('"url":"https:\\/\\/cdn.example\\/a\\/b.jpg"');
    const message = hook.json.entry[0].messaging[0].message;
    expect(message).toEqual({
      mid: answer.mid,
      attachments: [
        { type: 'image', payload: { url: 'https://cdn.example/a/b.jpg' } },
        // Without a link of its own: one to the sandbox's CDN, which serves it (sandbox/cdn.ts).
        {
          type: 'video',
          payload: { url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/sandbox\/cdn\/[0-9a-f]+\?oh=/) },
        },
      ],
    });
  });

  it('a quick-reply tap: the title as text and the payload', async () => {
    const { answer, hook } = await act({ from: 'ana', text: 'Yes please', quickReplyPayload: 'YES' });
    expect(hook.raw).toBe(
      messaging(answer.igsid, {
        message: { mid: answer.mid, text: 'Yes please', quick_reply: { payload: 'YES' } },
      }),
    );
  });

  it('a story mention, whose story the Graph API then gives by mid', async () => {
    const url = 'https://cdn.example/story.mp4';
    const { answer, hook } = await act({ from: 'ana', storyMention: { url } });
    expect(hook.raw).toBe(
      messaging(answer.igsid, {
        message: { mid: answer.mid, attachments: [{ type: 'story_mention', payload: { url } }] },
      }).replaceAll('/', '\\/'),
    );
    const story = await sandbox.graph('GET', answer.mid, { query: { fields: 'story' } });
    expect(story.status).toBe(200);
    expect(story.body).toEqual({
      story: { mention: { link: url, id: expect.stringMatching(/^\d+$/) } },
      id: answer.mid,
    });
  });

  it('replies: to a message and to a story', async () => {
    const first = await act({ from: 'ana', text: 'one' });
    const { answer, hook } = await act({ from: 'ana', text: 'two', replyTo: first.answer.mid });
    expect(hook.raw).toBe(
      messaging(answer.igsid, {
        message: { mid: answer.mid, text: 'two', reply_to: { mid: first.answer.mid } },
      }),
    );
    const story = await act({
      from: 'ana',
      text: 'nice',
      storyReply: { url: 'https://cdn.example/s.jpg', id: '42' },
    });
    expect(story.hook.json.entry[0].messaging[0].message.reply_to).toEqual({
      story: { url: 'https://cdn.example/s.jpg', id: '42' },
    });
  });

  it('reactions: react with the emoji, unreact without', async () => {
    const { answer, hook } = await act({ from: 'ana', reaction: { mid: 'aWdfMID', reaction: 'love' } });
    expect(answer.mid).toBe('aWdfMID');
    expect(hook.raw).toBe(
      messaging(answer.igsid, {
        reaction: { mid: 'aWdfMID', action: 'react', reaction: 'love', emoji: '\\u2764\\ufe0f' },
      }).replace('\\\\u2764\\\\ufe0f', '\\u2764\\ufe0f'),
    );
    expect(hook.json.entry[0].messaging[0].reaction.emoji).toBe('❤️');
    const un = await act({ from: 'ana', reaction: { mid: 'aWdfMID', action: 'unreact' } });
    expect(un.hook.raw).toBe(messaging(un.answer.igsid, { reaction: { mid: 'aWdfMID', action: 'unreact' } }));
  });

  it('a postback (ice breaker or button tap)', async () => {
    const { answer, hook } = await act({
      from: 'ana',
      postback: { title: 'Opening hours?', payload: 'HOURS' },
    });
    expect(hook.raw).toBe(
      messaging(answer.igsid, { postback: { mid: answer.mid, title: 'Opening hours?', payload: 'HOURS' } }),
    );
  });

  it('read, unsend and referral events', async () => {
    const read = await act({ from: 'ana', read: 'aWdfX' });
    expect(read.hook.raw).toBe(messaging(read.answer.igsid, { read: { mid: 'aWdfX' } }));
    const unsend = await act({ from: 'ana', unsend: 'aWdfY' });
    expect(unsend.hook.raw).toBe(
      messaging(unsend.answer.igsid, { message: { mid: 'aWdfY', is_deleted: true } }),
    );
    const referral = await act({ from: 'ana', referral: { ref: 'summer' } });
    expect(referral.hook.raw).toBe(
      messaging(referral.answer.igsid, {
        referral: { ref: 'summer', source: 'SHORTLINKS', type: 'OPEN_THREAD' },
      }),
    );
  });

  it('a comment arrives as a comments change, time in seconds', async () => {
    const { answer, hook } = await act({ from: 'ana', comment: { text: 'Price?', mediaId: '1790000' } });
    expect(answer.commentId).toMatch(/^\d{17}$/);
    expect(hook.raw).toBe(
      JSON.stringify({
        object: 'instagram',
        entry: [
          {
            time: START / 1000,
            id: ACCOUNT,
            changes: [
              {
                field: 'comments',
                value: {
                  from: { id: answer.igsid, username: answer.username },
                  media: { id: '1790000', media_product_type: 'FEED' },
                  id: answer.commentId,
                  text: 'Price?',
                },
              },
            ],
          },
        ],
      }),
    );
  });
});

describe('who the customer is', () => {
  it('the same name is the same customer; an IGSID is kept; no from makes a new one', async () => {
    const a = await sandbox.customer({ from: 'Bruno', text: 'x' });
    const b = await sandbox.customer({ from: 'bruno', text: 'y' });
    expect(b.body.igsid).toBe(a.body.igsid);
    const byUsername = await sandbox.customer({ from: a.body.username, text: 'z' });
    expect(byUsername.body.igsid).toBe(a.body.igsid);
    const byId = await sandbox.customer({ from: '5550001112223334', text: 'x' });
    expect(byId.body.igsid).toBe('5550001112223334');
    const fresh1 = await sandbox.customer({ text: 'x' });
    const fresh2 = await sandbox.customer({ text: 'x' });
    expect(fresh1.body.igsid).not.toBe(fresh2.body.igsid);

    const list = await sandbox.control('GET', '/customers');
    expect(list.body.data).toContainEqual({
      igsid: '5550001112223334',
      name: expect.any(String),
      username: expect.stringMatching(/^[a-z0-9._]+$/),
      lastInboundAt: START,
    });
    expect(list.body.data.find((c: { name: string }) => c.name === 'Bruno')).toBeTruthy();
  });

  it('reactions and reads do not open the window; messages and postbacks do', async () => {
    clock.advance(1000);
    const r = await sandbox.customer({ from: 'carla', reaction: { mid: 'm', reaction: 'like' } });
    const list = async () =>
      (await sandbox.control('GET', '/customers')).body.data.find(
        (c: { igsid: string }) => c.igsid === r.body.igsid,
      );
    expect((await list()).lastInboundAt).toBeNull();
    await sandbox.customer({ from: 'carla', postback: { payload: 'P' } });
    expect((await list()).lastInboundAt).toBe(clock.t);
  });
});

describe('bad requests and failed deliveries', () => {
  it.each([
    [{}, /exactly one/],
    [{ from: 'ana', text: 'x', reaction: { mid: 'm', reaction: 'love' } }, /exactly one/],
    [{ from: 'ana', text: 'x', attachments: [{ type: 'image' }] }, /separate messages/],
    [{ from: 'ana', reaction: { mid: 'm', reaction: 'meh' } }, /reaction/],
    [{ from: 'ana', text: '' }, /text/],
    [{ from: 'ana', text: 'x', nope: 1 }, /nope/],
    [{ from: 'ana', replyTo: 'm' }, /reply needs text/],
  ])('%j is a 400 with a reason', async (body, reason) => {
    const r = await sandbox.customer(body);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('bad_request');
    expect(r.body.error.message).toMatch(reason);
  });

  it('malformed JSON is a 400', async () => {
    const r = await sandbox.control('POST', '/messages', '{"text":');
    expect(r.status).toBe(400);
    expect(r.body.error).toEqual({ code: 'bad_request', message: 'The body is not valid JSON' });
  });

  it('reports what the gateway answered, or that it could not be reached', async () => {
    gateway.status = 403;
    const refused = await sandbox.customer({ from: 'ana', text: 'x' });
    expect(refused.body.delivered.status).toBe(403);

    const lonely = await startSandbox({
      url: `http://127.0.0.1:${await freePort()}/webhooks/meta`,
    } as Gateway);
    try {
      const r = await lonely.customer({ from: 'ana', text: 'x' });
      expect(r.status).toBe(200);
      expect(r.body.delivered).toEqual({ status: 0, error: expect.stringMatching(/ECONNREFUSED/) });
      const deliveries = await lonely.control('GET', '/deliveries');
      expect(deliveries.body.data).toEqual([
        expect.objectContaining({
          kind: 'customer',
          status: 0,
          payload: expect.stringContaining('"text":"x"'),
        }),
      ]);
    } finally {
      await lonely.close();
    }
  });
});
