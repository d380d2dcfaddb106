import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.ts';

// The API's reference: /openapi.json (OpenAPI 3.1, from the routes' own schemas) and /docs, both
// without a key and nothing loaded from another host; and what a request the route's schema refuses
// is answered, from the error catalog.

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.stop());

// biome-ignore lint/suspicious/noExplicitAny: the document is read field by field
type Doc = any;

const openapi = async (): Promise<Doc> => {
  const res = await fetch(`${svc.url}/openapi.json`);
  expect(res.status).toBe(200);
  return res.json();
};

/** A schema, or the component it refers to. */
const resolve = (doc: Doc, s: Doc): Doc =>
  s?.$ref ? doc.components.schemas[s.$ref.replace('#/components/schemas/', '')] : s;

/** Every route the server has under /v1, as "METHOD /v1/path/{param}" (HEAD left out). */
function v1Routes(): string[] {
  // printRoutes draws a tree: each line's depth is its indent, each node the rest of the path.
  const tree = svc.app.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const found: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \((.+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = stack.join('').replace(/\/\/+/g, '/');
    if (!m[3] || !path.startsWith('/v1/')) continue;
    for (const method of m[3].split(', ')) {
      if (method !== 'HEAD') found.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return found.sort();
}

describe('GET /openapi.json', () => {
  it('is an OpenAPI 3.1 document, answered without a key', async () => {
    const doc = await openapi();
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.info).toMatchObject({ title: 'igdm', version: expect.any(String) });
  });

  it('lists every /v1 route the server has, and the health routes', async () => {
    const doc = await openapi();
    const documented = Object.entries(doc.paths as Record<string, object>).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    const routes = v1Routes();
    expect(routes).toContain('POST /v1/messages');
    expect(routes).toContain('GET /v1/conversations/{id}/messages');
    expect(documented.filter((o) => o.includes(' /v1/')).sort()).toEqual(routes);
    expect(documented).toEqual(expect.arrayContaining(['GET /healthz', 'GET /readyz']));
    // Not the webhooks (raw bytes, signed by Meta), nor the reference itself.
    expect(documented.filter((o) => /webhooks|openapi|docs/.test(o))).toEqual([]);
  });

  it('declares the bearer key and requires it on every /v1 route', async () => {
    const doc = await openapi();
    const schemes = doc.components.securitySchemes as Record<string, { type: string; scheme?: string }>;
    const [name] = Object.entries(schemes).find(([, s]) => s.type === 'http' && s.scheme === 'bearer')!;
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, Doc>>)) {
      for (const [method, op] of Object.entries(ops)) {
        if (path.startsWith('/v1/')) expect(op.security, `${method} ${path}`).toEqual([{ [name]: [] }]);
        else expect(op.security, `${method} ${path}`).toBeUndefined();
      }
    }
  });

  it("describes each /v1 route's path and query parameters, request body and 2xx answer", async () => {
    const doc = await openapi();
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, Doc>>)) {
      if (!path.startsWith('/v1/')) continue;
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method} ${path}`;
        const params = (op.parameters ?? []) as { in: string; name: string; required?: boolean }[];
        for (const [, name] of path.matchAll(/\{(\w+)\}/g))
          expect(params, where).toContainEqual(expect.objectContaining({ in: 'path', name, required: true }));
        if (['post', 'put', 'patch'].includes(method) && !path.endsWith('/retry')) {
          const body = (op.requestBody?.content ?? {}) as Record<string, Doc>;
          if (body['application/json']) {
            expect(resolve(doc, body['application/json'].schema), where).toMatchObject({ type: 'object' });
          } else {
            // An upload: the file's bytes as they are.
            expect(Object.keys(body), where).not.toEqual([]);
            for (const media of Object.values(body))
              expect(media.schema, where).toMatchObject({ type: 'string', format: 'binary' });
          }
        }
        const ok = Object.keys(op.responses).filter((s) => /^2\d\d$/.test(s));
        expect(ok, where).toHaveLength(1);
        // A 204 (a deletion) has no body to describe.
        if (ok[0] !== '204') {
          const schema = resolve(doc, op.responses[ok[0]!].content['application/json'].schema);
          expect(schema.type ?? schema.anyOf, where).toBeDefined();
        }
        expect(op.responses['4XX']?.content['application/json'].schema, where).toEqual({
          $ref: '#/components/schemas/Error',
        });
      }
    }
  });

  it('names the query parameters and the fields of what comes back', async () => {
    const doc = await openapi();
    const list = doc.paths['/v1/conversations'].get;
    const query = Object.fromEntries(
      (list.parameters as { in: string; name: string; schema: Doc }[])
        .filter((p) => p.in === 'query')
        .map((p) => [p.name, p.schema]),
    );
    expect(Object.keys(query).sort()).toEqual([
      'assignee',
      'channelId',
      'cursor',
      'limit',
      'q',
      'status',
      'tag',
      'threadOwner',
      'unread',
    ]);
    expect(query.limit).toMatchObject({ minimum: 1, maximum: 200, default: 50 });
    expect(query.status.enum).toEqual(['open', 'pending', 'resolved']);

    const conversation = doc.components.schemas.Conversation;
    expect(Object.keys(conversation.properties)).toEqual(
      expect.arrayContaining(['id', 'channelId', 'igsid', 'contact', 'status', 'threadOwner', 'windowOpen']),
    );
    const send = doc.paths['/v1/messages'].post;
    const body = send.requestBody.content['application/json'].schema;
    expect(Object.keys(body.properties)).toEqual(
      expect.arrayContaining(['channelId', 'to', 'commentId', 'content', 'humanAgent', 'replyTo']),
    );
    expect(body.additionalProperties).toBe(false);
    // The content's shape, as the send checks it, for SDKs to type.
    const content = resolve(doc, body.properties.content);
    const types = (content.oneOf as Doc[]).map((c) => c.properties.type.const);
    expect(types).toEqual(expect.arrayContaining(['text', 'image', 'template', 'reaction', 'typing']));
    expect(send.responses['202'].content['application/json'].schema.anyOf).toEqual([
      { $ref: '#/components/schemas/Message' },
      { $ref: '#/components/schemas/SenderAction' },
    ]);
  });
});

describe('GET /docs', () => {
  it('answers a page without a key, and everything it loads comes from igdm', async () => {
    const res = await fetch(`${svc.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(2);
    for (const ref of refs) {
      expect(ref, ref).toMatch(/^\/docs\//);
      const asset = await fetch(`${svc.url}${ref}`);
      expect(asset.status, ref).toBe(200);
      const text = await asset.text();
      // Scripts and styles fetch nothing from elsewhere (a font, a badge, a stylesheet).
      if (ref.endsWith('.css')) expect(text, ref).not.toMatch(/@import|url\(\s*["']?(https?:)?\/\//);
      if (ref.endsWith('swagger-initializer.js')) {
        // (A comment in it links to a Stack Overflow answer; nothing is loaded from there.)
        expect(text.replace(/^\s*\/\/.*$/gm, ''), ref).not.toMatch(/https?:\/\//);
        expect(text).toContain('validatorUrl: null');
      }
    }
  });

  it('reads the same document', async () => {
    const res = await fetch(`${svc.url}/docs/json`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(await openapi());
  });
});

describe("a request its route's schema refuses", () => {
  const send = (method: string, path: string, body?: unknown) =>
    svc.api(path, {
      method,
      ...(body !== undefined && {
        body: typeof body === 'string' ? body : JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      }),
    });

  it.each([
    ['a limit out of range', 'GET', '/v1/conversations?limit=0', undefined, 400, 'invalid_query', /limit/],
    [
      'an unknown status',
      'GET',
      '/v1/conversations?status=closed',
      undefined,
      400,
      'invalid_query',
      /status/,
    ],
    [
      'a bad order',
      'GET',
      '/v1/conversations/cnv_x/messages?order=up',
      undefined,
      400,
      'invalid_query',
      /order/,
    ],
    ['a bad job status', 'GET', '/v1/jobs?status=lost', undefined, 400, 'invalid_query', /status/],
    ['a job id that is not a number', 'GET', '/v1/jobs/abc', undefined, 400, 'invalid_request', /job id/],
    ['retrying job 0', 'POST', '/v1/jobs/0/retry', undefined, 400, 'invalid_request', /job id/],
    [
      'a handover to nobody',
      'POST',
      '/v1/conversations/cnv_x/handover',
      { to: 'robot' },
      400,
      'invalid_request',
      /to/,
    ],
    [
      'a change of nothing',
      'PATCH',
      '/v1/conversations/cnv_x',
      {},
      400,
      'invalid_request',
      /status, tags or assignee/,
    ],
    [
      'a send with an unknown field',
      'POST',
      '/v1/messages',
      { to: '1', content: {}, x: 1 },
      400,
      'invalid_request',
      /"x"/,
    ],
    ['a send to no one', 'POST', '/v1/messages', { content: {} }, 400, 'invalid_request', /exactly one/],
    [
      'five ice breakers',
      'PUT',
      '/v1/channels/default/ice-breakers',
      { iceBreakers: Array.from({ length: 5 }, (_, i) => ({ question: `Q${i}?`, payload: `P${i}` })) },
      422,
      'invalid_ice_breakers',
      /at most 4/,
    ],
  ])('%s: %i %s', async (_name, method, path, body, status, code, message) => {
    const res = await send(method, path, body);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(await res.json()).toEqual({ error: { code, message: expect.stringMatching(message) } });
  });

  it('names the field in a readable message', async () => {
    const res = await send('GET', '/v1/conversations?limit=500');
    const { error } = (await res.json()) as { error: { message: string } };
    expect(error.message).toMatch(/Too big.*200/);
    expect(error.message).toMatch(/→ at limit/);
  });

  it('answers a body that is not JSON, or none, with 400 malformed_json', async () => {
    for (const body of ['{"to": ', '']) {
      const res = await send('POST', '/v1/conversations/cnv_x/handover', body);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: { code: 'malformed_json', message: expect.any(String) } });
    }
  });

  it('answers content beyond what Meta accepts with 422 invalid_content and its issues', async () => {
    const res = await send('POST', '/v1/messages', { to: '1', content: { type: 'text', text: '' } });
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      error: {
        code: 'invalid_content',
        message: expect.any(String),
        issues: [{ path: 'content.text', message: expect.any(String) }],
      },
    });
  });

  it('still asks for the key first', async () => {
    const res = await fetch(`${svc.url}/v1/jobs/abc`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
  });
});

describe('in sandbox mode', () => {
  it('documents the same API, without the sandbox routes', async () => {
    const sandboxed = await startTestService({
      META_APP_SECRET: '',
      WEBHOOK_VERIFY_TOKEN: '',
      INSTAGRAM_USER_ID: '',
      INSTAGRAM_ACCESS_TOKEN: '',
    });
    try {
      expect(sandboxed.sandbox).toBeDefined();
      const res = await fetch(`${sandboxed.url}/openapi.json`);
      expect(res.status).toBe(200);
      const paths = Object.keys(((await res.json()) as Doc).paths);
      expect(paths).toContain('/v1/messages');
      expect(paths.filter((p) => p.startsWith('/sandbox'))).toEqual([]);
    } finally {
      await sandboxed.stop();
    }
  });
});
