import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { FailureRequest } from './failures.ts';
import { customerActs } from './inbound.ts';
import type { SandboxState } from './state.ts';

// The sandbox's own routes, beside the emulated Graph API: make a customer write, list what the
// gateway sent, inject failures, list customers and webhook deliveries. Errors are
// { "error": { "code", "message" } } like the rest of igdm's API.

const replyError = (reply: FastifyReply, status: number, code: string, message: string) =>
  reply.code(status).type('application/json').send({ error: { code, message } });

/** The JSON body of a request (bodies arrive as raw buffers in the sandbox). */
function jsonBody(body: unknown): { ok: true; value: unknown } | { ok: false; message: string } {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : '';
  if (text.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, message: 'The body is not valid JSON' };
  }
}

const issues = (err: z.ZodError) =>
  err.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');

export async function controlRoutes(app: FastifyInstance, opts: { state: SandboxState }) {
  const { state } = opts;
  app.setErrorHandler((err: { statusCode?: number; message: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) req.log.error({ err }, 'sandbox request failed');
    const code = status === 413 ? 'body_too_large' : status >= 500 ? 'internal_error' : 'bad_request';
    return replyError(reply, status, code, status >= 500 ? 'Internal error' : err.message);
  });

  app.post('/messages', async (req, reply) => {
    const body = jsonBody(req.body);
    if (!body.ok) return replyError(reply, 400, 'bad_request', body.message);
    try {
      const { webhook: _webhook, ...result } = await customerActs(state, body.value);
      return reply.code(200).send(result);
    } catch (err) {
      if (err instanceof z.ZodError) return replyError(reply, 400, 'bad_request', issues(err));
      throw err;
    }
  });

  // ?after=SEQ: only the calls after that sequence number, for a reader that follows the journal
  // (it keeps the newest 1000) while a run goes on.
  app.get<{ Querystring: { after?: string } }>('/outbox', async (req, reply) => {
    const after = req.query.after;
    if (after === undefined) return { data: state.outbox.list() };
    if (!/^\d+$/.test(after)) return replyError(reply, 400, 'bad_request', 'after must be a sequence number');
    return { data: state.outbox.after(Number(after)) };
  });
  app.delete('/outbox', async () => ({ cleared: state.outbox.clear() }));
  app.get('/calls', async () => ({ data: state.calls.list() }));
  app.delete('/calls', async () => ({ cleared: state.calls.clear() }));
  app.get('/deliveries', async () => ({ data: state.delivery.log.list() }));

  // A simulated outage: while down, customers' messages (and echoes) are remembered but not
  // delivered, as when igdm's webhook endpoint is unreachable and Meta has given up retrying.
  const Outage = z.strictObject({ down: z.boolean() });
  app.get('/outage', async () => ({ down: state.delivery.down }));
  app.put('/outage', async (req, reply) => {
    const body = jsonBody(req.body);
    if (!body.ok) return replyError(reply, 400, 'bad_request', body.message);
    const parsed = Outage.safeParse(body.value);
    if (!parsed.success) return replyError(reply, 400, 'bad_request', issues(parsed.error));
    state.delivery.down = parsed.data.down;
    return { down: state.delivery.down };
  });

  app.get('/customers', async () => ({
    data: state.customers.list().map((c) => ({
      igsid: c.igsid,
      name: c.name,
      username: c.username,
      lastInboundAt: c.lastInboundAt,
    })),
  }));

  app.post('/failures', async (req, reply) => {
    const body = jsonBody(req.body);
    if (!body.ok) return replyError(reply, 400, 'bad_request', body.message);
    const parsed = FailureRequest.safeParse(body.value);
    if (!parsed.success) return replyError(reply, 400, 'bad_request', issues(parsed.error));
    return reply.code(201).send(state.failures.add(parsed.data));
  });
  app.get('/failures', async () => ({ data: state.failures.list() }));
  app.delete('/failures', async () => ({ cleared: state.failures.clear() }));

  // The profile_pic the emulated profile points at: initials on a colour, so the inbox shows faces offline.
  app.get<{ Params: { file: string } }>('/avatars/:file', async (req, reply) => {
    const igsid = req.params.file.replace(/\.svg$/, '');
    const customer = state.customers.get(igsid);
    if (!customer) return replyError(reply, 404, 'not_found', `No customer ${igsid}`);
    const initials = customer.name
      .split(/\s+/)
      .map((w) => [...w][0] ?? '')
      .join('')
      .slice(0, 2)
      .toUpperCase();
    const hue = Number(BigInt(customer.igsid) % 360n);
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="150" height="150" viewBox="0 0 150 150"><rect width="150" height="150" fill="hsl(${hue},55%,55%)"/><text x="75" y="75" dy=".35em" text-anchor="middle" font-family="sans-serif" font-size="60" fill="#fff">${escapeXml(initials)}</text></svg>`;
    return reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(svg);
  });
}

const escapeXml = (s: string) =>
  s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
