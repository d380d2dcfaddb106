import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messagingItem, messagingWebhook } from '../../src/sandbox/wire.ts';
import { appEcho } from '../engine/flow/support.ts';
import { type SandboxService, sleep, startSandboxService, until } from '../send/support.ts';
import { API_KEY } from '../support/service.ts';
import { sseFrames } from '../support/sse.ts';

// The event log as Server-Sent Events (GET /v1/events): a customer's message, igdm's send and its
// outcome arrive as named events; a client that reconnects with Last-Event-ID gets what came after
// it, with no gap and nothing twice; filters by type; a key limited to other channels gets none. A
// product shared from a shop is its own event too, and a new token that ends a channel's wait for
// one is a change of its health.

let svc: SandboxService;
beforeAll(async () => {
  svc = await startSandboxService();
});
afterAll(() => svc.stop());

/** Waits until `done` holds (5 s at most). */
async function waitFor(done: () => boolean, what: string) {
  const deadline = Date.now() + 5000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 5 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface Received {
  id: number;
  event: string;
  // biome-ignore lint/suspicious/noExplicitAny: read field by field in assertions
  body: any;
}

/** An open stream (of `on`, by default the suite's igdm): the events read so far, and a way to close it. */
async function listen(query = '', headers: Record<string, string> = {}, key = API_KEY, on = svc) {
  const abort = new AbortController();
  const res = await fetch(`${on.url}/v1/events${query}`, {
    headers: { authorization: `Bearer ${key}`, ...headers },
    signal: abort.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: Received[] = [];
  const reading = (async () => {
    try {
      for await (const frame of sseFrames(res.body!)) {
        if (frame.id !== undefined)
          events.push({ id: Number(frame.id), event: frame.event!, body: JSON.parse(frame.data!) });
      }
    } catch {
      // aborted
    }
  })();
  return {
    events,
    close: async () => {
      abort.abort();
      await reading;
    },
  };
}

/**
 * Waits for the start's token check (in the background: it asks the Graph API) to record its
 * `channel.health`, so that it comes before the stream a test opens next and is not on it.
 */
async function startRecorded(on: SandboxService): Promise<void> {
  await until(
    () =>
      on.store.db
        .selectFrom('events')
        .select((eb) => eb.fn.count('id').as('n'))
        .where('event', '=', 'channel.health')
        .executeTakeFirstOrThrow(),
    (r) => Number(r.n) > 0,
    "the start's token check recorded",
  );
}

describe('GET /v1/events', () => {
  it("streams a customer's message, the reply queued and its outcome, in order", async () => {
    await startRecorded(svc);
    const stream = await listen();
    const { igsid } = await svc.customer({ from: 'streamed customer', text: 'hello stream' });
    const sent = await svc.send({ to: igsid, content: { type: 'text', text: 'hello back' } });
    expect(sent.status).toBe(202);
    await waitFor(
      () => stream.events.some((e) => e.event === 'message.sent'),
      'the send recorded on the stream',
    );
    await stream.close();
    const { events } = stream;
    const names = events.map((e) => e.event);
    expect(names).toEqual(['message.received', 'message.queued', 'message.sent']);
    const ids = events.map((e) => e.id);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    const [received, queued, done] = events;
    expect(received!.body).toMatchObject({
      id: String(received!.id),
      event: 'message.received',
      channelId: 'default',
      data: { igsid, text: 'hello stream', mid: expect.any(String) },
    });
    expect(queued!.body.data).toMatchObject({ messageId: sent.body.id, type: 'text' });
    expect(done!.body.data).toMatchObject({ messageId: sent.body.id, mid: expect.any(String) });
  });

  it('a reconnect with Last-Event-ID gets what came after it: no gap, nothing twice', async () => {
    const first = await listen('?types=message.received');
    const { igsid } = await svc.customer({ from: 'reconnecting customer', text: 'one' });
    await waitFor(() => first.events.length === 1, 'the first message');
    await first.close();
    // Meanwhile, while no one listens:
    await svc.customer({ from: igsid, text: 'two' });
    await svc.customer({ from: igsid, text: 'three' });
    const again = await listen('?types=message.received', { 'last-event-id': String(first.events[0]!.id) });
    await svc.customer({ from: igsid, text: 'four' });
    await waitFor(() => again.events.length >= 3, 'the messages since');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await again.close();
    expect(again.events.map((e) => e.body.data.text)).toEqual(['two', 'three', 'four']);
  });

  it('a message typed in the Instagram app is message.sent, author human, once', async () => {
    const stream = await listen('?types=message.sent');
    const { igsid } = await svc.customer({ from: 'app customer', text: 'hello?' });
    const mid = await appEcho(svc, igsid, 'Sam from the shop here');
    await svc.settled();
    await waitFor(() => stream.events.length >= 1, 'the human reply');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await stream.close();
    expect(stream.events.map((e) => e.body.data)).toEqual([
      expect.objectContaining({ mid, text: 'Sam from the shop here', author: 'human' }),
    ]);
  });

  it("a conversation's changes and a channel's health are events too", async () => {
    const stream = await listen('?types=conversation.updated,channel.health');
    const { igsid } = await svc.customer({ from: 'changing customer', text: 'hi' });
    const conversation = (await svc.json('/v1/conversations?limit=1')).body.data[0];
    expect(conversation.igsid).toBe(igsid);
    await svc.json(`/v1/conversations/${conversation.id}`, {
      method: 'PATCH',
      body: { status: 'pending', assignee: 'Maria' },
    });
    await svc.json(`/v1/conversations/${conversation.id}/handover`, { body: { to: 'human' } });
    await svc.inject({ kind: 'throttle', count: 1, path: 'messages' });
    await svc.send({ to: igsid, content: { type: 'text', text: 'slow down?' } });
    await waitFor(() => stream.events.length >= 3, 'three events');
    await stream.close();
    expect(stream.events.map((e) => [e.event, e.body.data])).toEqual([
      ['conversation.updated', { conversationId: conversation.id, status: 'pending', assignee: 'Maria' }],
      ['conversation.updated', { conversationId: conversation.id, threadOwner: 'human' }],
      ['channel.health', { channelId: 'default', status: 'throttled' }],
    ]);
  });

  it('filters by type, and a key limited to another channel gets nothing of this one', async () => {
    const made = await svc.json('/v1/api-keys', { body: { name: 'default only', channels: ['default'] } });
    expect(made.status).toBe(201);
    // A second channel, for a key that sees only it.
    const shop = await svc.json('/v1/channels', {
      body: {
        id: 'shop',
        name: 'Shop',
        accountId: '17841400000000444',
        accessToken: 'a-token',
        appSecret: 'a-secret',
        verifyToken: 'a-verify-token',
      },
    });
    expect(shop.status).toBe(201);
    const other = await svc.json('/v1/api-keys', { body: { name: 'shop only', channels: ['shop'] } });
    const mine = await listen('', {}, made.body.key);
    const theirs = await listen('', {}, other.body.key);
    const reads = await listen('?types=message.read');
    await svc.customer({ from: 'filtered customer', text: 'seen by default keys only' });
    await waitFor(() => mine.events.length >= 1, 'the default channel key hears it');
    await new Promise((resolve) => setTimeout(resolve, 300));
    await Promise.all([mine.close(), theirs.close(), reads.close()]);
    expect(mine.events.map((e) => e.event)).toEqual(['message.received']);
    expect(theirs.events).toEqual([]);
    expect(reads.events).toEqual([]);
  });
});

describe('referrals', () => {
  it('an ad referral on a message: in message.received and instagram.referral as the API shows it, and as the source', async () => {
    const { igsid } = await svc.customer({ from: 'from an ad', text: 'hi' });
    const stream = await listen('?types=message.received,instagram.referral');
    const sandbox = svc.sandbox!;
    const account = sandbox.options.accountId;
    const mid = `aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDA6referral${Date.now()}`;
    const referral = {
      ref: 'spring',
      source: 'ADS',
      type: 'OPEN_THREAD',
      ad_id: '120210000000000001',
      ads_context_data: { ad_title: 'Spring sale', photo_url: 'https://scontent.xx.fbcdn.net/ad.jpg' },
    };
    const body = messagingWebhook(account, sandbox.now(), [
      messagingItem(igsid, account, sandbox.now(), { message: { mid, text: 'Is this still on?', referral } }),
    ]);
    expect((await svc.post(body, { secret: sandbox.options.appSecret })).status).toBe(200);
    await svc.settled();
    await waitFor(() => stream.events.length >= 2, 'both events');
    await stream.close();

    const shown = {
      ref: 'spring',
      source: 'ADS',
      type: 'OPEN_THREAD',
      adId: '120210000000000001',
      adsContextData: referral.ads_context_data,
    };
    expect(stream.events.map((e) => e.event)).toEqual(['message.received', 'instagram.referral']);
    for (const e of stream.events) expect(e.body.data).toMatchObject({ igsid, mid, referral: shown });
    const message = (await svc.thread(igsid)).find((m) => m.mid === mid)!;
    expect(message.referral).toEqual(shown);
  });
});

describe('a product shared from a shop', () => {
  // Meta's shape (src/meta/attachments.ts says where it is documented), with text along, as it came
  // in the field report.
  const element = {
    id: '4761234567890',
    retailer_id: 'MUG-BLUE',
    image_url: 'https://scontent.xx.fbcdn.net/v/t45.5328-4/mug.png',
    title: 'Blue mug',
    subtitle: '$12.00',
  };
  const product = {
    id: '4761234567890',
    retailerId: 'MUG-BLUE',
    name: 'Blue mug',
    price: '$12.00',
    imageUrl: element.image_url,
  };

  it('a signed webhook: message.received and instagram.product_share with the product; a product_share in the thread', async () => {
    const { igsid } = await svc.customer({ from: 'shopper', text: 'hi' });
    const stream = await listen('?types=message.received,instagram.product_share');
    const sandbox = svc.sandbox!;
    const account = sandbox.options.accountId;
    const mid = `aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDAwMDAwMDA6product${Date.now()}`;
    const body = messagingWebhook(account, sandbox.now(), [
      messagingItem(igsid, account, sandbox.now(), {
        message: {
          mid,
          text: 'is this one in stock?',
          attachments: [{ type: 'template', payload: { product: { elements: [element] } } }],
        },
      }),
    ]);
    const res = await svc.post(body, { secret: sandbox.options.appSecret });
    expect(res.status).toBe(200);
    await svc.settled();
    await waitFor(() => stream.events.length >= 2, 'both events');
    await sleep(300);
    await stream.close();

    expect(stream.events.map((e) => e.event)).toEqual(['message.received', 'instagram.product_share']);
    const [received, shared] = stream.events;
    const message = (await svc.thread(igsid)).find((m) => m.mid === mid)!;
    expect(message).toMatchObject({
      type: 'product_share',
      direction: 'inbound',
      text: 'is this one in stock?',
      attachments: [{ type: 'template', products: [product], payload: { product: { elements: [element] } } }],
    });
    expect(received!.body.data).toMatchObject({ messageId: message.id, mid, igsid });
    expect(shared!.body).toMatchObject({
      event: 'instagram.product_share',
      conversationId: message.conversationId,
      data: {
        messageId: message.id,
        conversationId: message.conversationId,
        igsid,
        mid,
        text: 'is this one in stock?',
        product,
        products: [product],
      },
    });
  });

  it("the sandbox's customer shares one too", async () => {
    const stream = await listen('?types=instagram.product_share');
    const { igsid, mid } = await svc.customer({
      from: 'sandbox shopper',
      product: { id: '4761234567891', retailerId: 'MUG-RED', name: 'Red mug', price: '$14.00' },
    });
    await waitFor(() => stream.events.length >= 1, 'the product share');
    await stream.close();
    expect(stream.events[0]!.body.data).toMatchObject({
      igsid,
      mid,
      product: {
        id: '4761234567891',
        retailerId: 'MUG-RED',
        name: 'Red mug',
        price: '$14.00',
        imageUrl: expect.stringMatching(/^https:\/\//),
      },
    });
    expect((await svc.thread(igsid)).map((m) => m.type)).toEqual(['product_share']);
    const refused = await svc.json('/sandbox/messages', {
      body: { product: { name: 'Mug' }, attachments: [{ type: 'image' }] },
    });
    expect(refused.status).toBe(400);
  });
});

describe('channel.health on a token set through the API', () => {
  // Its own igdm: the suite's channel changes health in the tests above.
  let own: SandboxService;
  beforeAll(async () => {
    own = await startSandboxService();
  });
  afterAll(() => own.stop());

  it('a channel waiting for a token is ok again when one is PATCHed; a PATCH that leaves its health alone says nothing', async () => {
    await startRecorded(own);
    const stream = await listen('?types=channel.health', {}, API_KEY, own);
    const { igsid } = await own.customer({ from: 'waiting customer', text: 'hello?' });
    await own.inject({ kind: 'token_expired', count: 1, path: 'messages' });
    const held = await own.send({ to: igsid, content: { type: 'text', text: 'one moment' } });
    expect(held.status).toBe(202);
    await waitFor(() => stream.events.length >= 1, 'the channel needs a token');

    // A name: still waiting for a token.
    expect((await own.json('/v1/channels/default', { method: 'PATCH', body: { name: 'Shop' } })).status).toBe(
      200,
    );
    const token = own.sandbox!.options.accessToken;
    const patched = await own.json('/v1/channels/default', { method: 'PATCH', body: { accessToken: token } });
    expect(patched.body.status).toBe('ok');
    await own.waitMessage(held.body.id);
    // On PostgreSQL an event shows once every older writing transaction on the server has ended
    // (docs/postgres.md, "The event log's cursor"): another test file's can hold it back past the sleep.
    await waitFor(() => stream.events.length >= 2, 'the channel is ok again');
    // Healthy already: a token again changes nothing about health.
    await own.json('/v1/channels/default', { method: 'PATCH', body: { accessToken: token } });
    await sleep(300);
    await stream.close();

    expect(stream.events.map((e) => [e.event, e.body.channelId, e.body.data])).toEqual([
      ['channel.health', 'default', { channelId: 'default', status: 'needs_token' }],
      ['channel.health', 'default', { channelId: 'default', status: 'ok' }],
    ]);
  });
});
