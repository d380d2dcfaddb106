import type {
  ApiKey,
  Approval,
  ApprovalCreated,
  BackfillReport,
  Channel,
  Comment,
  Contact,
  ContactComment,
  ContactErasure,
  ContactExport,
  Content,
  Conversation,
  EventName,
  IgdmEvent,
  Job,
  Me,
  Message,
  Note,
  RawWebhookEvent,
  SavedReply,
  Send,
  SenderAction,
  StoryMention,
  UploadedAttachment,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEvent,
  WebhookSubscription,
} from '@igdm/sdk';
import { Igdm } from '@igdm/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.ts';

// The SDK against the API's own reference (GET /openapi.json from a running igdm): every /v1
// operation has an SDK method, and the SDK sends and describes exactly the document's field names.
// The examples below fill every field; the type checker holds them to the SDK's types, this test
// holds the SDK's requests to the document.

// biome-ignore lint/suspicious/noExplicitAny: the document is read field by field
type Doc = any;

let svc: TestService;
let doc: Doc;

beforeAll(async () => {
  svc = await startTestService();
  doc = await (await fetch(`${svc.url}/openapi.json`)).json();
});
afterAll(() => svc.stop());

interface Recorded {
  method: string;
  path: string;
  query: string[];
  /** A JSON body, parsed; undefined for none, or for bytes (an upload: `contentType` says). */
  body: unknown;
  contentType?: string;
}

/** A client whose fetch records each request and answers an empty success. */
function recordingClient() {
  const calls: Recorded[] = [];
  const client = new Igdm({
    baseUrl: 'http://igdm.test',
    apiKey: 'k',
    fetch: async (url, init) => {
      const u = new URL(url);
      const contentType = (init.headers as Record<string, string>)['content-type'];
      const json = init.body !== undefined && contentType === 'application/json';
      calls.push({
        method: init.method ?? 'GET',
        path: u.pathname,
        query: [...u.searchParams.keys()],
        body: json ? JSON.parse(String(init.body)) : undefined,
        ...(contentType && { contentType }),
      });
      if (init.method === 'DELETE') return new Response(null, { status: 204 });
      return Response.json({ data: [], nextCursor: null, iceBreakers: [] });
    },
  });
  return { client, calls };
}

const fullContent: Record<Content['type'], Content> = {
  text: {
    type: 'text',
    text: 'Pick one',
    quickReplies: [{ contentType: 'text', title: 'Shop', payload: 'SHOP' }],
  },
  image: { type: 'image', image: { url: 'https://example.com/a.jpg', isReusable: true } },
  video: { type: 'video', video: { attachmentId: '123', isReusable: false } },
  audio: { type: 'audio', audio: { url: 'https://example.com/a.m4a' } },
  file: { type: 'file', file: { url: 'https://example.com/a.pdf' } },
  sticker: { type: 'sticker', sticker: { id: 'like' } },
  media_share: { type: 'media_share', mediaShare: { id: '1790' } },
  template: {
    type: 'template',
    template: {
      type: 'generic',
      elements: [
        {
          title: 'Mug',
          subtitle: '$12',
          imageUrl: 'https://example.com/mug.jpg',
          defaultAction: { type: 'web_url', url: 'https://example.com/mug' },
          buttons: [{ type: 'web_url', title: 'Shop', url: 'https://example.com/mug' }],
        },
      ],
    },
  },
  reaction: { type: 'reaction', messageId: 'mid.1', reaction: 'love' },
  typing: { type: 'typing', on: true },
  mark_seen: { type: 'mark_seen' },
};

/** Calls every SDK method with every field it takes. */
async function callEverything(client: Igdm) {
  await client.messages.send({
    channelId: 'default',
    to: '123',
    content: fullContent.text,
    humanAgent: true,
    replyTo: 'mid.0',
  });
  await client.messages.send({ commentId: 'c1', content: { type: 'text', text: 'Thanks!' } });
  await client.messages.get('msg_1');
  await client.conversations.list({
    status: 'open',
    channelId: 'default',
    threadOwner: 'human',
    assignee: 'Maria',
    tag: 'vip',
    unread: true,
    q: 'refund',
    limit: 10,
    cursor: 'c',
  });
  await client.conversations.read('cnv_1');
  await client.conversations.notes('cnv_1');
  await client.conversations.addNote('cnv_1', 'called them back');
  await client.messages.retry('msg_1');
  await client.contacts.list({ channelId: 'default', q: 'ann', limit: 10, cursor: 'c' });
  await client.contacts.get('ct_1');
  await client.contacts.export('ct_1');
  await client.contacts.erase('ct_1');
  const sub = client.events.subscribe(
    { types: ['message.received'], channelId: 'default', after: '7' },
    () => {},
  );
  await new Promise((resolve) => setTimeout(resolve, 20));
  sub.close();
  await sub.done;
  for await (const _ of client.conversations.listAll({ status: 'open' })) break;
  await client.conversations.get('cnv_1');
  await client.conversations.update('cnv_1', { status: 'resolved', tags: ['vip'], assignee: 'Maria' });
  await client.conversations.handover('cnv_1', 'human');
  await client.conversations.messages('cnv_1', { limit: 10, cursor: 'c', order: 'asc' });
  await client.channels.list();
  await client.channels.get('shop');
  await client.channels.create({
    id: 'shop',
    name: 'Shop',
    accountId: '1784',
    pageId: '1',
    login: 'instagram',
    accessToken: 't',
    appSecret: 's',
    verifyToken: 'v',
    graphApiUrl: 'https://graph.instagram.com',
    appId: '1234',
  });
  await client.channels.update('shop', {
    name: 'Shop',
    accountId: '1784',
    pageId: null,
    login: 'facebook',
    accessToken: 't',
    appSecret: 's',
    verifyToken: 'v',
    graphApiUrl: null,
    appId: null,
  });
  await client.channels.delete('shop');
  await client.channels.import('default', { since: '2026-01-15T12:00:00Z' });
  await client.instagram.setIceBreakers({
    channelId: 'default',
    iceBreakers: [{ question: 'Opening hours?', payload: 'HOURS' }],
  });
  await client.apiKeys.create({ name: 'CRM', agent: 'Maria', channels: ['default'], scopes: ['read'] });
  await client.apiKeys.list();
  await client.apiKeys.revoke('key_1');
  await client.jobs.list({ status: 'dead', queue: 'engine', conversationId: 'cnv_1', limit: 5, cursor: '9' });
  await client.jobs.get(1);
  await client.jobs.retry(1);
  await client.webhookEvents.list({
    status: 'unapplied',
    channelId: 'default',
    kind: 'message',
    limit: 5,
    cursor: 'c',
  });
  await client.webhookEndpoints.create({
    url: 'https://crm.example/hooks',
    events: ['message.received'],
    channels: ['default'],
    description: 'CRM',
    enabled: true,
  });
  await client.webhookEndpoints.list();
  await client.webhookEndpoints.get('we_1');
  await client.webhookEndpoints.update('we_1', {
    url: 'https://crm.example/hooks2',
    events: ['*'],
    channels: null,
    description: null,
    enabled: false,
  });
  await client.webhookEndpoints.delete('we_1');
  await client.webhookEndpoints.rotateSecret('we_1');
  await client.webhookEndpoints.deliveries('we_1', { status: 'failed', limit: 5, cursor: 'c' });
  await client.webhookEndpoints.allDeliveries({
    endpointId: 'we_1',
    rule: 'invoice',
    status: 'pending',
    limit: 5,
    cursor: 'c',
  });
  await client.webhookEndpoints.getDelivery('dlv_1');
  await client.webhookEndpoints.retryDelivery('dlv_1');
  await client.me();
  await client.savedReplies.list();
  await client.savedReplies.create({ shortcut: 'hours', text: 'We open at 9' });
  await client.savedReplies.update('sr_1', { shortcut: 'hours2', text: 'We open at 10' });
  await client.savedReplies.delete('sr_1');
  await client.media.get('med_1');
  await client.comments.list({
    channelId: 'default',
    mediaId: '179',
    authorId: '123',
    from: '123',
    limit: 10,
    cursor: 'c',
  });
  await client.comments.get('cmt_1');
  await client.comments.reply('cmt_1', 'Sent you a DM!');
  await client.comments.hide('cmt_1', false);
  await client.comments.delete('cmt_1');
  await client.attachments.upload({
    channelId: 'default',
    type: 'file',
    file: new Uint8Array([37, 80, 68, 70]),
    filename: 'menu.pdf',
    contentType: 'application/pdf',
  });
  await client.attachments.upload({
    type: 'image',
    file: new Blob([new Uint8Array([1])], { type: 'image/png' }),
  });
  await client.approvals.create({
    channelId: 'default',
    approver: '123',
    title: 'Refund order #1042',
    fields: [{ label: 'Amount', value: '$120', display: 'visible' }],
    callbackUrl: 'https://workflow.example/approvals',
    callbackSecret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    expiresInSeconds: 3600,
    metadata: { orderId: 1042 },
  });
  await client.approvals.get('apr_1');
  await client.approvals.list({
    status: 'pending',
    channelId: 'default',
    conversationId: 'cnv_1',
    limit: 10,
    cursor: 'c',
  });
  await client.approvals.cancel('apr_1');
}

/** The document's /v1 operations: "METHOD /v1/path/{id}" to the operation. */
function operations(): Map<string, Doc> {
  const ops = new Map<string, Doc>();
  for (const [path, byMethod] of Object.entries(doc.paths as Record<string, Record<string, Doc>>)) {
    if (!path.startsWith('/v1/')) continue;
    for (const [method, op] of Object.entries(byMethod)) ops.set(`${method.toUpperCase()} ${path}`, op);
  }
  return ops;
}

/** The operation a request is for. */
function operationOf(call: Recorded): string | undefined {
  return [...operations().keys()].find((key) => {
    const [method, template] = key.split(' ') as [string, string];
    const pattern = new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`);
    return method === call.method && pattern.test(call.path);
  });
}

const schemaOf = (s: Doc): Doc =>
  s?.$ref ? doc.components.schemas[s.$ref.replace('#/components/schemas/', '')] : s;

/** The object schema among a union's members that fits a value (by its `type` field). */
function member(schema: Doc, value: Record<string, unknown>): Doc {
  const s = schemaOf(schema);
  const options = s.oneOf ?? s.anyOf;
  if (!options) return s;
  const objects = options.map(schemaOf).filter((o: Doc) => o.properties);
  return objects.find((o: Doc) => o.properties.type?.const === value.type) ?? objects[0];
}

/**
 * Every field of `value` is one the schema names, and (with `all`) every field the schema names
 * is in `value`, down through objects and arrays. Answers the differences, by path.
 */
function fieldDifferences(value: unknown, schema: Doc, path: string, all: boolean): string[] {
  if (Array.isArray(value))
    return value.flatMap((v, i) =>
      fieldDifferences(
        v,
        schemaOf(schema).items ?? schemaOf(schema).anyOf?.find((o: Doc) => o.items)?.items,
        `${path}[${i}]`,
        all,
      ),
    );
  if (value === null || typeof value !== 'object') return [];
  const object = value as Record<string, unknown>;
  const s = member(schema, object);
  // A field given as a $ref (the send's content) is compared with its own examples.
  if (!s?.properties) return [];
  const known = Object.keys(s.properties);
  const given = Object.keys(object);
  return [
    ...given.filter((k) => !known.includes(k)).map((k) => `${path}.${k}: not in the document`),
    ...(all ? known.filter((k) => !given.includes(k)).map((k) => `${path}.${k}: not sent by the SDK`) : []),
    ...given.flatMap((k) => fieldDifferences(object[k], s.properties[k], `${path}.${k}`, all)),
  ];
}

/** Deep-merges request bodies: the union of the fields sent to one operation. */
function merge(a: unknown, b: unknown): unknown {
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const out: Record<string, unknown> = { ...(a as object) };
    for (const [k, v] of Object.entries(b)) out[k] = k in out ? merge(out[k], v) : v;
    return out;
  }
  return a ?? b;
}

describe('the SDK and /openapi.json', () => {
  it('has a method for every /v1 operation, and calls none the document lacks', async () => {
    const { client, calls } = recordingClient();
    await callEverything(client);
    const called = calls.map((c) => operationOf(c) ?? `${c.method} ${c.path} (not in the document)`);
    expect([...new Set(called)].sort()).toEqual([...operations().keys()].sort());
  });

  it("sends exactly the document's body and query field names", async () => {
    const { client, calls } = recordingClient();
    await callEverything(client);
    const byOperation = new Map<string, Recorded[]>();
    for (const c of calls) {
      const key = operationOf(c)!;
      byOperation.set(key, [...(byOperation.get(key) ?? []), c]);
    }
    for (const [key, op] of operations()) {
      const sent = byOperation.get(key) ?? [];
      const query = (op.parameters ?? []).filter((p: Doc) => p.in === 'query').map((p: Doc) => p.name);
      expect([...new Set(sent.flatMap((c) => c.query))].sort(), `${key} query`).toEqual(query.sort());
      const content = op.requestBody?.content ?? {};
      const bodySchema = content['application/json']?.schema;
      const body = sent.map((c) => c.body).reduce(merge, undefined);
      if (!bodySchema) {
        expect(body, `${key} sends no JSON body`).toBeUndefined();
        // An upload: the bytes go with a media type the document names (or one of its ranges).
        for (const c of sent.filter((c) => c.contentType)) {
          const named = Object.keys(content).some(
            (m) => m === c.contentType || (m.endsWith('/*') && c.contentType!.startsWith(m.slice(0, -1))),
          );
          expect(named, `${key} sends ${c.contentType}`).toBe(true);
        }
        continue;
      }
      expect(fieldDifferences(body, bodySchema, key, true), key).toEqual([]);
    }
  });

  it("types every content the document's Content describes, field by field", () => {
    const variants = schemaOf({ $ref: '#/components/schemas/ContentInput' }).oneOf.map(schemaOf);
    const types = variants.map((v: Doc) => v.properties.type.const);
    expect(Object.keys(fullContent).sort()).toEqual([...types].sort());
    for (const content of Object.values(fullContent)) {
      const schema = variants.find((v: Doc) => v.properties.type.const === content.type);
      expect(fieldDifferences(content, schema, content.type, false), content.type).toEqual([]);
    }
    // Every field of every variant is reachable through the SDK's types (the examples fill them all,
    // but for the other of url / attachmentId, and the button template, which differs only in shape).
    const text = variants.find((v: Doc) => v.properties.type.const === 'text');
    expect(fieldDifferences(fullContent.text, text, 'text', true)).toEqual([]);
  });

  it("describes answers with the document's field names", () => {
    // Each literal must name every field of the SDK's type, and nothing else (the type checker).
    const fields = <T>(keys: Record<keyof T, true>) => Object.keys(keys).sort();
    const documented = (id: string) => Object.keys(doc.components.schemas[id].properties).sort();
    const t = true as const;
    expect(
      fields<Conversation>({
        id: t,
        channelId: t,
        igsid: t,
        contact: t,
        status: t,
        threadOwner: t,
        intent: t,
        tags: t,
        lastInboundAt: t,
        lastMessageAt: t,
        windowClosesAt: t,
        windowOpen: t,
        humanWindowClosesAt: t,
        assignee: t,
        source: t,
        unread: t,
        notesCount: t,
        lastMessage: t,
        createdAt: t,
        updatedAt: t,
      }),
    ).toEqual(documented('Conversation'));
    expect(fields<Note>({ id: t, conversationId: t, text: t, author: t, createdAt: t })).toEqual(
      documented('Note'),
    );
    expect(
      fields<Contact>({
        id: t,
        channelId: t,
        igsid: t,
        username: t,
        name: t,
        profilePic: t,
        profileCheckedAt: t,
        createdAt: t,
        updatedAt: t,
      }),
    ).toEqual(documented('Contact'));
    expect(
      fields<Message>({
        id: t,
        mid: t,
        conversationId: t,
        channelId: t,
        direction: t,
        type: t,
        text: t,
        attachments: t,
        replyTo: t,
        payload: t,
        referral: t,
        reactions: t,
        status: t,
        error: t,
        isEcho: t,
        possibleDuplicate: t,
        backfilled: t,
        author: t,
        agent: t,
        editedAt: t,
        deletedAt: t,
        seenAt: t,
        createdAt: t,
        approvalId: t,
      }),
    ).toEqual(documented('Message'));
    expect(fields<SenderAction>({ id: t, type: t, status: t, error: t })).toEqual(documented('SenderAction'));
    expect(
      fields<Channel>({
        id: t,
        name: t,
        kind: t,
        login: t,
        accountId: t,
        pageId: t,
        graphApiUrl: t,
        graphApiVersion: t,
        appId: t,
        status: t,
        token: t,
        secrets: t,
        webhookSubscription: t,
      }),
    ).toEqual(documented('Channel'));
    expect(fields<WebhookSubscription>({ state: t, fields: t, checkedAt: t, detail: t })).toEqual(
      documented('WebhookSubscription'),
    );
    expect(
      fields<BackfillReport>({
        channelId: t,
        trigger: t,
        since: t,
        startedAt: t,
        finishedAt: t,
        conversationsChecked: t,
        messagesRecovered: t,
        possiblyMissing: t,
        subscription: t,
        error: t,
      }),
    ).toEqual(documented('BackfillReport'));
    expect(
      fields<ApiKey>({
        id: t,
        name: t,
        agent: t,
        channels: t,
        scopes: t,
        hint: t,
        createdAt: t,
        revokedAt: t,
      }),
    ).toEqual(documented('ApiKey'));
    expect(
      fields<Job>({
        id: t,
        queue: t,
        conversationId: t,
        status: t,
        attempts: t,
        error: t,
        result: t,
        payload: t,
        orderAt: t,
        runAt: t,
        createdAt: t,
        finishedAt: t,
      }),
    ).toEqual(documented('Job'));
    expect(
      fields<WebhookEndpoint>({
        id: t,
        url: t,
        description: t,
        events: t,
        channels: t,
        enabled: t,
        createdAt: t,
        updatedAt: t,
      }),
    ).toEqual(documented('WebhookEndpoint'));
    expect(
      fields<WebhookDelivery>({
        id: t,
        endpointId: t,
        rule: t,
        event: t,
        eventId: t,
        webhookId: t,
        channelId: t,
        conversationId: t,
        status: t,
        attempts: t,
        nextAttemptAt: t,
        lastError: t,
        createdAt: t,
      }),
    ).toEqual(documented('WebhookDelivery'));
    expect(
      fields<ContactExport>({
        exportedAt: t,
        contact: t,
        conversations: t,
        messages: t,
        notes: t,
        storyMentions: t,
        sends: t,
        comments: t,
        events: t,
        webhookEvents: t,
      }),
    ).toEqual(documented('ContactExport'));
    expect(
      fields<StoryMention>({ id: t, conversationId: t, mid: t, storyId: t, mediaUrl: t, createdAt: t }),
    ).toEqual(documented('StoryMention'));
    expect(
      fields<Send>({
        id: t,
        messageId: t,
        conversationId: t,
        kind: t,
        status: t,
        attempts: t,
        body: t,
        mid: t,
        error: t,
        createdAt: t,
        sentAt: t,
      }),
    ).toEqual(documented('Send'));
    expect(
      fields<ContactComment>({
        id: t,
        commentId: t,
        mediaId: t,
        parentId: t,
        username: t,
        text: t,
        createdAt: t,
      }),
    ).toEqual(documented('ContactComment'));
    expect(
      fields<IgdmEvent>({ id: t, event: t, createdAt: t, channelId: t, conversationId: t, data: t }),
    ).toEqual(documented('LoggedEvent'));
    expect(
      fields<RawWebhookEvent>({
        id: t,
        object: t,
        source: t,
        kind: t,
        entryId: t,
        metaTimestamp: t,
        receivedAt: t,
        appliedAt: t,
        applyError: t,
        payload: t,
      }),
    ).toEqual(documented('RawWebhookEvent'));
    expect(
      fields<WebhookEvent>({
        id: t,
        channelId: t,
        kind: t,
        object: t,
        source: t,
        status: t,
        reason: t,
        receivedAt: t,
        raw: t,
      }),
    ).toEqual(documented('WebhookEvent'));
    expect(
      fields<ContactErasure>({ id: t, contactId: t, channelId: t, erasedAt: t, erasedBy: t, counts: t }),
    ).toEqual(documented('ContactErasure'));
    expect(fields<Me>({ keyId: t, name: t, agent: t, scopes: t, channels: t, sandbox: t })).toEqual(
      documented('Me'),
    );
    expect(fields<SavedReply>({ id: t, shortcut: t, text: t, createdAt: t, updatedAt: t })).toEqual(
      documented('SavedReply'),
    );
    expect(
      fields<Comment>({
        id: t,
        channelId: t,
        commentId: t,
        source: t,
        mediaId: t,
        mediaProductType: t,
        parentId: t,
        from: t,
        text: t,
        hidden: t,
        deletedAt: t,
        createdAt: t,
      }),
    ).toEqual(documented('Comment'));
    expect(fields<UploadedAttachment>({ attachmentId: t, type: t, size: t })).toEqual(
      documented('UploadedAttachment'),
    );
    expect(
      fields<Approval>({
        id: t,
        channelId: t,
        conversationId: t,
        approver: t,
        title: t,
        fields: t,
        status: t,
        approved: t,
        respondedBy: t,
        respondedAt: t,
        decidedAt: t,
        expiresAt: t,
        createdAt: t,
        metadata: t,
        callbackUrl: t,
        callback: t,
        messageId: t,
        shortened: t,
      }),
    ).toEqual(documented('Approval'));
    const approvalFields = Object.fromEntries(documented('Approval').map((k) => [k, t]));
    expect(
      fields<ApprovalCreated>({ ...(approvalFields as Record<keyof Approval, true>), callbackSecret: t }),
    ).toEqual(documented('ApprovalCreated'));
  });

  it("names the events the document's /v1/events lists", () => {
    // The literal must name every EventName, and nothing else (the type checker).
    const t = true as const;
    const names: Record<EventName, true> = {
      'message.received': t,
      'message.queued': t,
      'message.sent': t,
      'message.failed': t,
      'message.read': t,
      'message.edited': t,
      'message.deleted': t,
      'instagram.reaction': t,
      'instagram.story_mention': t,
      'instagram.story_reply': t,
      'instagram.product_share': t,
      'instagram.quick_reply': t,
      'instagram.postback': t,
      'instagram.referral': t,
      'conversation.updated': t,
      'comment.received': t,
      'channel.health': t,
      'approval.created': t,
      'approval.decided': t,
    };
    const types = doc.paths['/v1/events'].get.parameters.find((p: Doc) => p.name === 'types');
    const listed = /event names: (.*)\.$/.exec(types.description)![1]!.split(', ');
    expect(Object.keys(names).sort()).toEqual(listed.sort());
  });
});
