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
