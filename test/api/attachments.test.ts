import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxService, startSandboxService } from '../send/support.ts';
import { API_KEY, callApi } from '../support/service.ts';

// POST /v1/attachments, through HTTP against igdm in sandbox mode: the file's bytes go to the
// sandbox's Attachment Upload API as Meta's multipart form, the attachment id comes back, and a
// send by that id goes end to end. Meta's caps per type (413, without reading past them), bad
// input (400), a key's channels (404) and Meta's refusals (502).

let svc: SandboxService;

beforeAll(async () => {
  svc = await startSandboxService();
});
afterAll(() => svc.stop());

/** A small PNG's first bytes (its signature and header): the sandbox checks the type, not the pixels. */
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
const MiB = 1024 * 1024;

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
type Any = any;

async function upload(
  query: string,
  body: Uint8Array | undefined,
  opts: { contentType?: string; key?: string } = {},
): Promise<{ status: number; body: Any }> {
  const res = await fetch(`${svc.url}/v1/attachments?${query}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${opts.key ?? API_KEY}`,
      ...(opts.contentType !== undefined && { 'content-type': opts.contentType }),
    },
    ...(body !== undefined && { body }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const uploadedTo = (id: string) => svc.sandbox!.attachments.get(id);

describe('POST /v1/attachments', () => {
  it("uploads the file to the channel's Attachment Upload API, and a send by its id goes end to end", async () => {
    const { igsid } = await svc.customer({ from: 'ana', text: 'Can I see the mug?' });
    const up = await upload('channelId=default&type=image&filename=mug.png', PNG, {
      contentType: 'image/png',
    });
    expect(up.status, JSON.stringify(up.body)).toBe(201);
    expect(up.body).toEqual({
      attachmentId: expect.stringMatching(/^\d+$/),
      type: 'image',
      size: PNG.length,
    });
    // What Meta got: a multipart form with the file, its name and type (the sandbox checks the form).
    expect(uploadedTo(up.body.attachmentId)).toMatchObject({
      type: 'image',
      file: { filename: 'mug.png', contentType: 'image/png', size: PNG.length },
    });

    const sent = await svc.send({
      to: igsid,
      content: { type: 'image', image: { attachmentId: up.body.attachmentId } },
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    const message = await svc.waitMessage(sent.body.id);
    const call = (await svc.outbox()).find((e) => e.messageId === message.mid);
    expect(call?.body).toMatchObject({
      recipient: { id: igsid },
      message: { attachment: { type: 'image', payload: { attachment_id: up.body.attachmentId } } },
    });
    const thread = await svc.thread(igsid);
    expect(thread.filter((m) => m.direction === 'outbound')).toHaveLength(1);
  });

  it('sends to the only channel when none is named, under a name made from the type', async () => {
    const pdf = Buffer.from('%PDF-1.4\n%…\n');
    const up = await upload('type=file', pdf, { contentType: 'application/pdf' });
    expect(up.status, JSON.stringify(up.body)).toBe(201);
    expect(uploadedTo(up.body.attachmentId)?.file).toEqual({
      filename: 'file.pdf',
      contentType: 'application/pdf',
      size: pdf.length,
    });
  });

  it("takes up to Meta's cap for the type: 413 body_too_large beyond, from the declared length", async () => {
    const atCap = await upload('type=image', Buffer.alloc(8 * MiB, 1), { contentType: 'image/jpeg' });
    expect(atCap.status, JSON.stringify(atCap.body)).toBe(201);
    expect(atCap.body.size).toBe(8 * MiB);

    const over = await upload('type=image', Buffer.alloc(8 * MiB + 1, 1), { contentType: 'image/jpeg' });
    expect(over.status).toBe(413);
    expect(over.body.error).toEqual({
      code: 'body_too_large',
      message: expect.stringMatching(/image.*8388608/),
    });
    // A video may be larger.
    const video = await upload('type=video', Buffer.alloc(8 * MiB + 1, 1), { contentType: 'video/mp4' });
    expect(video.status, JSON.stringify(video.body)).toBe(201);
  });

  it('answers 413 as soon as a body of unknown length passes the cap, without waiting for the rest', async () => {
    const calls = svc.sandbox!.calls.list().length;
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${svc.url}/v1/attachments?type=image`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'image/png' },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c;
        });
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, text });
          req.destroy();
        });
      });
      req.on('error', reject);
      // Chunked: 8 MiB and a byte more, then nothing (the request never ends).
      for (let i = 0; i < 8; i++) req.write(Buffer.alloc(MiB, 2));
      req.write(Buffer.alloc(1, 2));
    });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.text).error.code).toBe('body_too_large');
    expect(svc.sandbox!.calls.list().length).toBe(calls);
  });

  it.each([
    ['an unknown type', 'type=gif', PNG, 'image/png', 'invalid_query', /type/],
    ['no type', 'channelId=default', PNG, 'image/png', 'invalid_query', /type/],
    ['an empty body', 'type=image', Buffer.alloc(0), 'image/png', 'invalid_request', /empty/],
    ['no body at all', 'type=image', undefined, 'image/png', 'invalid_request', /empty/],
    [
      'a Content-Type of another kind',
      'type=image',
      PNG,
      'text/plain',
      'invalid_request',
      /image\/png.*text\/plain/,
    ],
    ['no Content-Type for an image', 'type=image', PNG, undefined, 'invalid_request', /Content-Type/],
    [
      'a file name with a slash',
      'type=image&filename=a/b.png',
      PNG,
      'image/png',
      'invalid_query',
      /file name/,
    ],
  ])('refuses %s: 400 %s', async (_name, query, body, contentType, code, message) => {
    const before = svc.sandbox!.attachments.size;
    const r = await upload(query, body, contentType === undefined ? {} : { contentType });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.error).toEqual({ code, message: expect.stringMatching(message) });
    expect(svc.sandbox!.attachments.size).toBe(before);
  });

  it("answers Meta's refusal with 502 and Meta's reason", async () => {
    await svc.inject({ kind: 'token_expired', path: 'message_attachments' });
    const expired = await upload('type=image', PNG, { contentType: 'image/png' });
    expect(expired.status).toBe(502);
    expect(expired.body.error).toEqual({
      code: 'token_expired',
      message: expect.stringMatching(/^Meta did not take the file/),
    });
    // Meta takes png, jpeg and gif images only.
    const webp = await upload('type=image', PNG, { contentType: 'image/webp' });
    expect(webp.status).toBe(502);
    expect(webp.body.error.message).toMatch(/format is not supported/);
  });

  it('needs the send scope; a key limited to channels uploads for its own only', async () => {
    const reader = await callApi(svc, 'POST', '/v1/api-keys', { body: { name: 'reader', scopes: ['read'] } });
    const refused = await upload('type=image', PNG, { contentType: 'image/png', key: reader.body.key });
    expect([refused.status, refused.body.error.code]).toEqual([403, 'forbidden']);

    // Two more channels on the sandbox's Graph API (with its token), under accounts it does not know.
    const graphApiUrl = `${svc.url}/sandbox/graph`;
    const accessToken = svc.sandbox!.options.accessToken;
    for (const [id, accountId] of [
      ['shop', '17841400000000444'],
      ['shop2', '17841400000000445'],
    ] as const) {
      const made = await callApi(svc, 'POST', '/v1/channels', {
        body: { id, name: id, accountId, accessToken, appSecret: 's', verifyToken: 'v', graphApiUrl },
      });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
    }
    const shop = (await callApi(svc, 'POST', '/v1/api-keys', { body: { name: 'shop', channels: ['shop'] } }))
      .body.key;
    const theirs = await upload('channelId=default&type=image', PNG, { contentType: 'image/png', key: shop });
    expect([theirs.status, theirs.body.error.code]).toEqual([404, 'channel_not_found']);
    // Its one channel, unnamed: the upload goes to shop's account (which the sandbox refuses).
    const own = await upload('type=image', PNG, { contentType: 'image/png', key: shop });
    expect(own.status, JSON.stringify(own.body)).toBe(502);
    expect(own.body.error.message).toMatch(/17841400000000444/);

    // Several channels, none of them `default`: the channel must be named.
    const both = (
      await callApi(svc, 'POST', '/v1/api-keys', { body: { name: 'shops', channels: ['shop', 'shop2'] } })
    ).body.key;
    const unnamed = await upload('type=image', PNG, { contentType: 'image/png', key: both });
    expect(unnamed.status).toBe(400);
    expect(unnamed.body.error).toEqual({
      code: 'invalid_query',
      message: expect.stringMatching(/channelId.*shop, shop2/),
    });
    // IGDM_API_KEY sees `default` among them: that one.
    expect((await upload('type=image', PNG, { contentType: 'image/png' })).status).toBe(201);
  });
});
