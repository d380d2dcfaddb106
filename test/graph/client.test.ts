import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphClient, GraphError } from '../../src/graph/client.ts';
import { customerActs, runSandboxServer, type SandboxServer } from '../../src/sandbox/index.ts';

// The Graph API client's calls against the sandbox: the URL rules, and each call the issue lists
// beyond sending (profile, story, ice breakers, persistent menu, routing, upload, subscriptions, token).

const ACCOUNT = '17841400000000042';
let sandbox: SandboxServer;
let client: GraphClient;
let customer: string;
let storyMid: string;
let stopWebhooks = async () => {};

beforeAll(async () => {
  const webhooks = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('EVENT_RECEIVED'));
  });
  await new Promise<void>((resolve) => webhooks.listen(0, '127.0.0.1', resolve));
  const address = webhooks.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  sandbox = await runSandboxServer({
    port: 0,
    host: '127.0.0.1',
    appSecret: 'secret',
    accessToken: 'token',
    accountId: ACCOUNT,
    webhookUrl: `http://127.0.0.1:${port}/webhooks/meta`,
  });
  stopWebhooks = () => new Promise<void>((resolve) => webhooks.close(() => resolve()));
  client = new GraphClient({
    graphApiUrl: sandbox.graphApiUrl,
    graphApiVersion: 'v24.0',
    accessToken: 'token',
    accountId: ACCOUNT,
    pageId: null,
  });
  const wrote = await customerActs(sandbox.state, { from: 'mia', storyMention: {} });
  customer = wrote.igsid;
  storyMid = wrote.mid!;
});
afterAll(async () => {
  await sandbox?.close();
  await stopWebhooks();
});

describe('URLs', () => {
  const target = { graphApiVersion: 'v24.0', accessToken: 't', accountId: '1', pageId: '2' };
  it('adds the version unless the URL has one', () => {
    expect(new GraphClient({ ...target, graphApiUrl: 'https://graph.instagram.com' }).base).toBe(
      'https://graph.instagram.com/v24.0',
    );
    expect(new GraphClient({ ...target, graphApiUrl: 'https://graph.facebook.com/v21.0/' }).base).toBe(
      'https://graph.facebook.com/v21.0',
    );
  });
  it('sends from the Page with Facebook Login and from the IG account with Instagram Login', () => {
    expect(new GraphClient({ ...target, graphApiUrl: 'https://graph.facebook.com' }).sender).toBe('2');
    expect(new GraphClient({ ...target, graphApiUrl: 'https://graph.instagram.com' }).sender).toBe('1');
  });
});

describe('calls', () => {
  it('reads a profile, and names the failure for someone who never wrote', async () => {
    expect(await client.profile(customer)).toMatchObject({
      username: expect.any(String),
      name: expect.any(String),
    });
    const err = await client.profile('17000000000000001').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraphError);
    expect((err as GraphError).failure).toMatchObject({ action: 'give_up', code: 230 });
  });

  it('looks up the story of a story mention', async () => {
    const story = await client.story(storyMid);
    expect(story.story?.mention).toMatchObject({ link: expect.any(String) });
  });

  it('sets and removes ice breakers, and sets a persistent menu', async () => {
    await client.setIceBreakers([{ question: 'Opening hours?', payload: 'HOURS' }]);
    expect(sandbox.state.messengerProfile.ice_breakers).toEqual([
      { locale: 'default', call_to_actions: [{ question: 'Opening hours?', payload: 'HOURS' }] },
    ]);
    await client.deleteIceBreakers();
    expect(sandbox.state.messengerProfile.ice_breakers).toBeUndefined();
    const menu = [
      { locale: 'default', call_to_actions: [{ type: 'postback', title: 'Help', payload: 'HELP' }] },
    ];
    await client.setPersistentMenu(menu);
    expect(sandbox.state.messengerProfile.persistent_menu).toEqual(menu);
  });

  it('passes and takes thread control, and reads the owner', async () => {
    await client.routing('pass', customer, { targetAppId: '263902037430900', metadata: 'to the inbox' });
    expect(await client.threadOwner(customer)).toBe('263902037430900');
    await client.routing('take', customer);
    expect(await client.threadOwner(customer)).not.toBe('263902037430900');
  });

  it('uploads an attachment for reuse', async () => {
    const id = await client.uploadAttachment('image', 'https://example.com/mug.png');
    expect(sandbox.state.attachments.get(id)).toMatchObject({ type: 'image' });
  });

  it("uploads a file's bytes as Meta's multipart form, and reads the attachment id", async () => {
    const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const file = { type: 'image' as const, bytes, contentType: 'image/png', filename: 'mug.png' };
    const id = await client.uploadAttachmentFile(file);
    expect(sandbox.state.attachments.get(id)).toMatchObject({
      type: 'image',
      file: { filename: 'mug.png', contentType: 'image/png', size: 7 },
    });
    const refused = await client.uploadAttachmentFile({ ...file, contentType: 'image/webp' }).catch((e) => e);
    expect((refused as GraphError).failure).toMatchObject({ action: 'give_up', code: 100, subcode: 2534080 });

    // The form itself, as a server sees it; and an answer without an id, which cannot be read.
    let seen: { url?: string; auth?: string; form?: FormData } = {};
    const server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = new Uint8Array(Buffer.concat(chunks));
      seen = {
        url: req.url,
        auth: req.headers.authorization,
        form: await new Response(body, {
          headers: { 'content-type': req.headers['content-type']! },
        }).formData(),
      };
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const direct = new GraphClient({
        graphApiUrl: `http://127.0.0.1:${port}`,
        graphApiVersion: 'v24.0',
        accessToken: 'page-token',
        accountId: ACCOUNT,
        pageId: null,
      });
      const err = await direct.uploadAttachmentFile(file).catch((e: unknown) => e);
      expect((err as GraphError).failure).toMatchObject({ action: 'ambiguous', reason: 'no_attachment_id' });
      expect(seen.url).toBe(`/v24.0/${ACCOUNT}/message_attachments`);
      expect(seen.auth).toBe('Bearer page-token');
      expect([...seen.form!.keys()]).toEqual(['platform', 'message', 'filedata']);
      expect(seen.form!.get('platform')).toBe('instagram');
      expect(JSON.parse(String(seen.form!.get('message')))).toEqual({
        attachment: { type: 'image', payload: { is_reusable: true } },
      });
      const filedata = seen.form!.get('filedata') as File;
      expect([filedata.name, filedata.type, new Uint8Array(await filedata.arrayBuffer())]).toEqual([
        'mug.png',
        'image/png',
        bytes,
      ]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('subscribes to webhook fields and reads them back, and checks the token', async () => {
    await client.subscribe(['messages', 'messaging_postbacks']);
    expect(JSON.stringify(await client.subscriptions())).toContain('messaging_postbacks');
    expect(await client.me()).toMatchObject({ id: ACCOUNT });
    const bad = new GraphClient({
      graphApiUrl: sandbox.graphApiUrl,
      graphApiVersion: 'v24.0',
      accessToken: 'wrong',
      accountId: ACCOUNT,
      pageId: null,
    });
    const err = await bad.me().catch((e: unknown) => e);
    expect((err as GraphError).failure).toMatchObject({ action: 'reauthorize', code: 190 });
  });

  it('classifies an unreachable Graph API as a network failure to retry', async () => {
    const down = new GraphClient({
      graphApiUrl: 'http://127.0.0.1:9',
      graphApiVersion: 'v24.0',
      accessToken: 't',
      accountId: '1',
      pageId: null,
    });
    const err = await down.me().catch((e: unknown) => e);
    expect((err as GraphError).failure.action).toBe('retry');
  });
});
