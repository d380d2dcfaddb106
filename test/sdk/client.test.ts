import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Igdm, IgdmError, type IgdmEvent, type Message, verifyWebhook } from '@igdm/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversationIdOf } from '../../src/store/ids.ts';
import { type SandboxService, startSandboxService, until } from '../send/support.ts';
import { API_KEY } from '../support/service.ts';

// The SDK as an integrator uses it: the package built from packages/sdk, against igdm in sandbox
// mode, through real HTTP: simulated customers write, the client answers, lists, pages, hands
// over, manages channels and keys, and gets igdm's refusals as IgdmError.

let svc: SandboxService;
let client: Igdm;

beforeAll(async () => {
  svc = await startSandboxService();
  client = new Igdm({ baseUrl: svc.url, apiKey: API_KEY });
});
afterAll(() => svc.stop());

/** A simulated customer writes, and igdm has applied it. */
async function customerWrites(from: string, text: string) {
  const acted = await client.sandbox.customerActs({ from, text });
  expect(acted.delivered.status).toBe(200);
  await svc.settled();
  return acted;
}

/** Rejects with an IgdmError: answers it. */
async function refusal(p: Promise<unknown>): Promise<IgdmError> {
  const err = await p.then(
    () => expect.unreachable('the call succeeded'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IgdmError);
  return err as IgdmError;
}

const sent = (id: string) =>
  until(
    () => client.messages.get(id),
    (m) => m.status === 'sent',
    `message ${id} sent`,
  );

describe('sending', () => {
  it('answers a customer: queued, then sent, and the sandbox received it', async () => {
    const { igsid } = await customerWrites('ana', 'How much is the blue mug?');
    const message = await client.messages.send({ to: igsid, content: { type: 'text', text: 'It is $12!' } });
    expect(message).toMatchObject({
      status: 'queued',
      direction: 'outbound',
      type: 'text',
      text: 'It is $12!',
    });

    const done = (await sent(message.id)) as Message;
    expect(done.mid).toEqual(expect.any(String));
    const outbox = await client.sandbox.outbox();
    const call = outbox.find((e) => e.messageId === done.mid);
    expect(call).toMatchObject({ recipientId: igsid, answer: { status: 200 } });
    expect(call?.body).toMatchObject({ message: { text: 'It is $12!' } });
  });

  it('sends quick replies and a sender action, which is followed by its out_ id', async () => {
    const { igsid } = await customerWrites('ben', 'Which colours?');
    const choice = await client.messages.send({
      to: igsid,
      content: {
        type: 'text',
        text: 'Pick one',
        quickReplies: [
          { title: 'Blue', payload: 'BLUE' },
          { title: 'Red', payload: 'RED' },
        ],
      },
    });
    await sent(choice.id);
    const typing = await client.messages.send({ to: igsid, content: { type: 'typing' } });
    expect(typing).toMatchObject({ id: expect.stringMatching(/^out_/), type: 'typing', status: 'queued' });
    await sent(typing.id);
    const bodies = (await client.sandbox.outbox()).filter((e) => e.recipientId === igsid).map((e) => e.body);
    expect(bodies).toEqual([
      expect.objectContaining({
        message: expect.objectContaining({
          quick_replies: [
            expect.objectContaining({ title: 'Blue' }),
            expect.objectContaining({ title: 'Red' }),
          ],
        }),
      }),
      expect.objectContaining({ sender_action: 'typing_on' }),
    ]);
  });

  it('refuses content Meta would refuse: 422 invalid_content naming each field', async () => {
    const { igsid } = await customerWrites('chloé', 'hello');
    const err = await refusal(
      client.messages.send({
        to: igsid,
        content: {
          type: 'text',
          text: 'x'.repeat(1001),
          quickReplies: [{ title: 'a title of more than twenty', payload: 'P' }],
        },
      }),
    );
    expect(err).toMatchObject({ status: 422, code: 'invalid_content' });
    expect(err.issues?.map((i) => i.path).sort()).toEqual(['content.quickReplies[0].title', 'content.text']);
  });

  it('refuses a send to someone who never wrote: 422 never_messaged', async () => {
    const err = await refusal(
      client.messages.send({ to: '999000111', content: { type: 'text', text: 'Hi' } }),
    );
    expect(err).toMatchObject({ status: 422, code: 'never_messaged' });
  });

  it('shows a send the sandbox fails as failed, with the reason', async () => {
    const { igsid } = await customerWrites('dmitri', 'hi');
    const pending = await client.sandbox.injectFailure({
      kind: 'outside_window',
      count: 1,
      path: 'messages',
    });
    expect(pending).toMatchObject({ kind: 'outside_window', remaining: 1, path: 'messages' });
    const message = await client.messages.send({ to: igsid, content: { type: 'text', text: 'Too late?' } });
    const failed = await until(
      () => client.messages.get(message.id),
      (m) => m.status === 'failed',
      'the send fails',
    );
    expect(failed.error).toMatchObject({ reason: 'outside_window' });
    expect(await client.sandbox.failures()).toEqual([]);
  });
});

describe('conversations', () => {
  it('lists page by page, and listAll walks every page', async () => {
    for (const name of ['emma', 'farah', 'gabriel']) await customerWrites(name, `hi from ${name}`);
    const first = await client.conversations.list({ limit: 2 });
    expect(first.data).toHaveLength(2);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await client.conversations.list({ limit: 2, cursor: first.nextCursor! });
    expect(second.data.map((c) => c.id)).not.toContain(first.data[0]!.id);

    const all: string[] = [];
    for await (const c of client.conversations.listAll({ limit: 2 })) all.push(c.id);
    const total = (await client.conversations.list({ limit: 200 })).data.map((c) => c.id);
    expect(all).toEqual(total);
    expect(new Set(all).size).toBe(all.length);
    expect(all.length).toBeGreaterThanOrEqual(3);
  });

  it('updates, filters, hands over and reads the messages of one', async () => {
    const { igsid } = await customerWrites('hana', 'Do you ship to Lisbon?');
    const conversation = (await client.conversations.list({ limit: 200 })).data.find(
      (c) => c.igsid === igsid,
    )!;
    expect(await client.conversations.get(conversation.id)).toMatchObject({ igsid, status: 'open' });

    const updated = await client.conversations.update(conversation.id, { status: 'resolved', tags: ['vip'] });
    expect(updated).toMatchObject({ status: 'resolved', tags: ['vip'] });
    const resolved = await client.conversations.list({ status: 'resolved' });
    expect(resolved.data.map((c) => c.id)).toEqual([conversation.id]);

    expect(await client.conversations.handover(conversation.id, 'human')).toMatchObject({
      threadOwner: 'human',
    });
    expect(await client.conversations.handover(conversation.id, 'bot')).toMatchObject({ threadOwner: 'bot' });

    const reply = await client.messages.send({ to: igsid, content: { type: 'text', text: 'We do!' } });
    await sent(reply.id);
    const thread = await client.conversations.messages(conversation.id, { order: 'asc' });
    expect(thread.data.map((m) => [m.direction, m.text])).toEqual([
      ['inbound', 'Do you ship to Lisbon?'],
      ['outbound', 'We do!'],
    ]);
    const walked: string[] = [];
    for await (const m of client.conversations.allMessages(conversation.id, { limit: 1 })) walked.push(m.id);
    expect(walked).toEqual((await client.conversations.messages(conversation.id)).data.map((m) => m.id));
  });

  it('answers 404 conversation_not_found for one that does not exist', async () => {
    const err = await refusal(client.conversations.get('cnv_nope'));
    expect(err).toMatchObject({ status: 404, code: 'conversation_not_found' });
  });
});

describe('channels and ice breakers', () => {
  it('creates, reads, changes and deletes a channel', async () => {
    const shop2 = {
      id: 'shop2',
      name: 'Second shop',
      accountId: '17841400000000222',
      accessToken: 'IGAA-token',
      appSecret: 'secret',
      verifyToken: 'verify',
    };
    const created = await client.channels.create(shop2);
    expect(created).toMatchObject({
      id: 'shop2',
      login: 'instagram',
      appId: null,
      token: { state: 'unknown', expiresAt: null, expiresInDays: null },
      secrets: { accessToken: true, appSecret: true, verifyToken: true },
    });
    expect((await client.channels.list()).map((c) => c.id)).toContain('shop2');
    expect(await client.channels.update('shop2', { name: 'Shop two', appId: '998877665544' })).toMatchObject({
      name: 'Shop two',
      appId: '998877665544',
    });
    expect(await client.channels.get('shop2')).toMatchObject({ name: 'Shop two' });

    const taken = await refusal(client.channels.create({ ...shop2, accountId: '17841400000000333' }));
    expect(taken).toMatchObject({ status: 409, code: 'channel_exists' });

    await client.channels.delete('shop2');
    expect((await refusal(client.channels.get('shop2'))).code).toBe('channel_not_found');
  });

  it('sets the ice breakers of the sandbox channel', async () => {
    const iceBreakers = [{ question: 'Opening hours?', payload: 'HOURS' }];
    expect(await client.instagram.setIceBreakers({ channelId: 'default', iceBreakers })).toEqual(iceBreakers);
    expect(svc.sandbox!.messengerProfile.ice_breakers).toEqual([
      expect.objectContaining({ call_to_actions: [{ question: 'Opening hours?', payload: 'HOURS' }] }),
    ]);
  });
});

describe('comments', () => {
  it('lists, gets, replies to, hides and deletes comments; a private reply goes once', async () => {
    const c = await client.sandbox.customerActs({
      from: 'sdk commenter',
      comment: { text: 'LINK?', mediaId: '17955555555555555', live: true },
    });
    await svc.settled();
    const page = await client.comments.list({ mediaId: '17955555555555555' });
    expect(page.data.map((x) => x.commentId)).toEqual([c.commentId]);
    const got = await client.comments.get(page.data[0]!.id);
    expect(got).toMatchObject({ source: 'live_comments', text: 'LINK?', from: { id: c.igsid } });

    const reply = await client.comments.reply(got.id, 'Sent you a DM');
    expect(reply).toMatchObject({ parentId: c.commentId, source: 'reply' });
    expect((await client.comments.hide(got.commentId)).hidden).toBe(true);
    expect((await client.comments.hide(got.commentId, false)).hidden).toBe(false);

    await client.messages.send({ commentId: c.commentId!, content: { type: 'text', text: 'Here it is' } });
    const twice = await refusal(
      client.messages.send({ commentId: c.commentId!, content: { type: 'text', text: 'Again' } }),
    );
    expect(twice).toMatchObject({ status: 422, code: 'private_reply_used' });

    expect((await client.comments.delete(got.id)).deletedAt).not.toBeNull();
    expect(await refusal(client.comments.reply(got.id, 'hello?'))).toMatchObject({
      status: 409,
      code: 'comment_deleted',
    });
    expect((await refusal(client.comments.get('17999999999999998'))).code).toBe('comment_not_found');
  });
});

describe('import', () => {
  it("reads a channel's recent history and reports it; refuses a time it cannot read", async () => {
    const since = new Date(Date.now() - 60_000);
    const { igsid } = await customerWrites('Imported Ida', 'hello from before');
    const report = await client.channels.import('default', { since });
    expect(report).toMatchObject({
      channelId: 'default',
      trigger: 'import',
      since: since.toISOString(),
      messagesRecovered: 0,
      possiblyMissing: [],
      error: null,
      subscription: { state: 'inactive' },
    });
    // Each conversation active since then was checked (this customer's among them).
    expect(report.conversationsChecked).toBeGreaterThanOrEqual(1);

    // What the customer writes during an outage comes back with the next import, flagged.
    expect(await client.sandbox.setOutage(true)).toBe(true);
    const lost = await client.sandbox.customerActs({ from: igsid, text: 'written while igdm was down' });
    expect(lost.delivered.status).toBe(0);
    expect(await client.sandbox.setOutage(false)).toBe(false);
    expect(await client.channels.import('default', { since })).toMatchObject({ messagesRecovered: 1 });
    await svc.settled();
    const page = await client.conversations.messages(conversationIdOf('default', igsid));
    expect(page.data.find((m) => m.mid === lost.mid)).toMatchObject({ backfilled: true });
    const bad = await refusal(client.channels.import('default', { since: 'last tuesday' }));
    expect(bad).toMatchObject({ status: 400 });
    expect((await refusal(client.channels.import('nope'))).code).toBe('channel_not_found');
  });
});

describe('API keys and jobs', () => {
  it('makes a read-only key, which reads, may not send, and stops at once when revoked', async () => {
    const made = await client.apiKeys.create({ name: 'dashboard', scopes: ['read'] });
    expect(made.key).toMatch(/^igdm_/);
    const listed = (await client.apiKeys.list()).find((k) => k.id === made.id);
    expect(listed).toMatchObject({
      name: 'dashboard',
      scopes: ['read'],
      hint: made.key.slice(-4),
      revokedAt: null,
    });
    expect(listed).not.toHaveProperty('key');

    const dashboard = new Igdm({ baseUrl: svc.url, apiKey: made.key });
    await dashboard.conversations.list();
    const forbidden = await refusal(dashboard.messages.send({ to: '1', content: { type: 'typing' } }));
    expect(forbidden).toMatchObject({ status: 403, code: 'forbidden' });

    await client.apiKeys.revoke(made.id);
    const revoked = await refusal(dashboard.conversations.list());
    expect(revoked).toMatchObject({ status: 401, code: 'unauthorized' });
  });

  it('answers 401 unauthorized to a wrong key', async () => {
    const stranger = new Igdm({ baseUrl: svc.url, apiKey: 'not-a-key' });
    expect(await refusal(stranger.channels.list())).toMatchObject({ status: 401, code: 'unauthorized' });
  });

  it("lists the queue's jobs, and retries only dead ones", async () => {
    const jobs = await client.jobs.list({ limit: 5 });
    expect(jobs.data.length).toBeGreaterThan(0);
    expect(jobs.counts.done).toBeGreaterThan(0);
    const done = jobs.data.find((j) => j.status === 'done')!;
    expect(await client.jobs.get(done.id)).toMatchObject({ id: done.id, status: 'done' });
    expect(await refusal(client.jobs.retry(done.id))).toMatchObject({ status: 409, code: 'job_not_dead' });
  });
});

describe('webhook events', () => {
  it('lists the stored events with what became of each, filtered by status', async () => {
    await customerWrites('webhook-events', 'Is the red mug back?');
    const applied: unknown[] = [];
    for await (const e of client.webhookEvents.listAll({ status: 'applied', kind: 'message', limit: 2 })) {
      expect(e).toMatchObject({ status: 'applied', reason: null, kind: 'message', channelId: 'default' });
      applied.push(e.raw);
    }
    expect(applied).toContainEqual(
      expect.objectContaining({ message: expect.objectContaining({ text: 'Is the red mug back?' }) }),
    );
    expect((await client.webhookEvents.list({ status: 'unapplied' })).data).toEqual([]);
  });
});

describe('the inbox side', () => {
  it('events.subscribe hears a customer, and goes on after the last event when subscribed again', async () => {
    const heard: { id: string; text: unknown }[] = [];
    const sub = client.events.subscribe({ types: ['message.received'] }, (e) => {
      heard.push({ id: e.id, text: e.data.text });
    });
    // The stream is open before the customer writes (the subscription starts from now).
    await new Promise((resolve) => setTimeout(resolve, 200));
    await customerWrites('eve', 'first');
    await until(
      async () => heard.length,
      (n) => n >= 1,
      'the first message heard',
    );
    sub.close();
    await sub.done;
    await customerWrites('eve', 'second');
    const again: unknown[] = [];
    const resumed = client.events.subscribe({ types: ['message.received'], after: heard[0]!.id }, (e) => {
      again.push(e.data.text);
    });
    await until(
      async () => again.length,
      (n) => n >= 1,
      'the message written meanwhile',
    );
    resumed.close();
    await resumed.done;
    expect(heard.map((h) => h.text)).toEqual(['first']);
    expect(again).toEqual(['second']);
  });

  it('reads, notes, contacts', async () => {
    const { igsid } = await customerWrites('fay', 'anyone there?');
    const [conversation] = (await client.conversations.list({ q: 'anyone' })).data;
    expect(conversation).toMatchObject({ igsid, unread: 1 });
    expect(await client.conversations.read(conversation!.id)).toMatchObject({ unread: 0 });
    const note = await client.conversations.addNote(conversation!.id, 'asked about opening hours');
    expect(await client.conversations.notes(conversation!.id)).toEqual([note]);
    const contact = await client.contacts.get(conversation!.contact.id);
    expect(contact.conversations.map((c) => c.id)).toEqual([conversation!.id]);
  });

  it("exports a contact's data, then erases it", async () => {
    const { igsid } = await customerWrites('gus', 'my number is 555 0199');
    const [conversation] = (await client.conversations.list({ q: '0199' })).data;
    const contactId = conversation!.contact.id;
    const data = await client.contacts.export(contactId);
    expect(data.contact.igsid).toBe(igsid);
    expect(data.messages.map((m) => m.text)).toEqual(['my number is 555 0199']);
    expect(data.webhookEvents.map((e) => e.kind)).toEqual(['message']);
    const erasure = await until(
      () => client.contacts.erase(contactId).catch((e: IgdmError) => e),
      (r) => !(r instanceof IgdmError && r.code === 'contact_busy'),
      'the erasure',
    );
    expect(erasure).toMatchObject({ contactId, counts: { messages: 1, webhookEvents: 1 } });
    expect((await refusal(client.contacts.get(contactId))).status).toBe(404);
    expect((await client.conversations.list({ q: '0199' })).data).toEqual([]);
  });
});

describe('outbound webhooks', () => {
  it('makes an endpoint, whose deliveries verifyWebhook accepts, and reads the delivery log', async () => {
    const received: { raw: string; headers: Record<string, string | string[] | undefined> }[] = [];
    const server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      received.push({ raw: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      res.writeHead(received.length === 1 ? 500 : 200).end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const endpoint = await client.webhookEndpoints.create({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/igdm`,
        events: ['message.received'],
      });
      expect(endpoint.secret).toMatch(/^whsec_/);
      expect((await client.webhookEndpoints.list()).map((e) => e.id)).toContain(endpoint.id);
      await customerWrites('webhook fan', 'ping the CRM');
      await until(
        () => received.length,
        (n) => n >= 1,
        'the first attempt',
      );
      const [first] = (
        await until(
          () => client.webhookEndpoints.deliveries(endpoint.id),
          (p) => p.data[0]?.attempts.length === 1,
          'the failed attempt logged',
        )
      ).data;
      // The receiver failed the first time: retried by hand, with the same webhook-id.
      await client.webhookEndpoints.retryDelivery(first!.id);
      const done = await until(
        () => client.webhookEndpoints.getDelivery(first!.id),
        (d) => d.status === 'succeeded',
        'delivered',
      );
      expect(done.attempts.map((a) => a.status)).toEqual([500, 200]);
      const event = verifyWebhook<IgdmEvent>(received[1]!.raw, received[1]!.headers, endpoint.secret);
      expect(event).toMatchObject({ event: 'message.received', data: { text: 'ping the CRM' } });
      expect(received[1]!.headers['webhook-id']).toBe(received[0]!.headers['webhook-id']);
      await client.webhookEndpoints.delete(endpoint.id);
      const gone = await refusal(client.webhookEndpoints.get(endpoint.id));
      expect([gone.status, gone.code]).toEqual([404, 'webhook_endpoint_not_found']);
    } finally {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
  });
});

describe("the inbox's calls", () => {
  it('me() says who the key is, and that igdm runs its sandbox', async () => {
    expect(await client.me()).toEqual({
      keyId: null,
      name: 'IGDM_API_KEY',
      agent: null,
      scopes: ['read', 'send', 'admin'],
      channels: null,
      sandbox: true,
    });
  });

  it('makes, lists, changes and deletes saved replies; a taken shortcut is refused', async () => {
    const made = await client.savedReplies.create({ shortcut: 'Thanks', text: 'Thank you! 🙏' });
    expect(made).toMatchObject({ shortcut: 'thanks', text: 'Thank you! 🙏' });
    expect((await refusal(client.savedReplies.create({ shortcut: 'thanks', text: 'x' }))).code).toBe(
      'saved_reply_exists',
    );
    expect(await client.savedReplies.update(made.id, { text: 'Thanks a lot!' })).toMatchObject({
      text: 'Thanks a lot!',
    });
    expect((await client.savedReplies.list()).map((r) => r.id)).toContain(made.id);
    await client.savedReplies.delete(made.id);
    expect((await client.savedReplies.list()).map((r) => r.id)).not.toContain(made.id);
  });

  it('uploads a Blob and bytes, and sends the upload by its attachmentId', async () => {
    const { igsid } = await customerWrites('hana', 'the menu, please');
    const png = new Blob([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])], {
      type: 'image/png',
    });
    const image = await client.attachments.upload({ type: 'image', file: png });
    expect(image).toEqual({ attachmentId: expect.any(String), type: 'image', size: 8 });
    const pdf = await client.attachments.upload({
      channelId: 'default',
      type: 'file',
      file: new TextEncoder().encode('%PDF-1.4 menu'),
      filename: 'menu.pdf',
      contentType: 'application/pdf',
    });
    expect(pdf).toMatchObject({ type: 'file', size: 13 });
    expect(svc.sandbox!.attachments.get(pdf.attachmentId)?.file).toMatchObject({ filename: 'menu.pdf' });

    const message = await client.messages.send({
      to: igsid,
      content: { type: 'file', file: { attachmentId: pdf.attachmentId } },
    });
    const done = (await sent(message.id)) as Message;
    const call = (await client.sandbox.outbox()).find((e) => e.messageId === done.mid);
    expect(call?.body).toMatchObject({
      message: { attachment: { type: 'file', payload: { attachment_id: pdf.attachmentId } } },
    });

    const tooBig = await refusal(
      client.attachments.upload({
        type: 'image',
        file: new Uint8Array(8 * 1024 * 1024 + 1),
        contentType: 'image/png',
      }),
    );
    expect([tooBig.status, tooBig.code]).toEqual([413, 'body_too_large']);
  });
});
