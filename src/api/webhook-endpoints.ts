import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { ChannelRegistry } from '../channels/registry.ts';
import type { WebhookEndpoints } from '../deliveries/endpoints.ts';
import { EVENT_NAMES } from '../events/names.ts';
import type { Database } from '../store/schema.ts';
import {
  type Attempt,
  attemptsOf,
  type Delivery,
  getDelivery,
  listDeliveries,
} from '../store/webhook-deliveries.ts';
import { getEndpoint, listEndpoints, type WebhookEndpoint } from '../store/webhook-endpoints.ts';
import { sees } from './auth.ts';
import { errors } from './errors.ts';
import { decodeCursor, encodeCursor, Page } from './pages.ts';
import { page } from './schemas.ts';

// Outbound webhooks (admin keys): endpoints that get the events they name, signed as Standard
// Webhooks says, and the log of every delivery with its attempts. A key limited to channels sees and
// makes only endpoints limited to its channels, and the deliveries of its channels.

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const EventName = z.enum(['*', ...EVENT_NAMES]);
const Url = z.url({ protocol: /^https?$/ }).max(2000);

const EndpointView = z
  .object({
    id: z.string(),
    url: z.string(),
    description: z.string().nullable(),
    events: z.array(z.string()),
    channels: z.array(z.string()).nullable().meta({ description: 'Its channels; null for all.' }),
    enabled: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'WebhookEndpoint' });

const WithSecret = EndpointView.extend({
  secret: z.string().meta({ description: 'The `whsec_…` signing secret. Shown this once.' }),
}).meta({ id: 'WebhookEndpointWithSecret' });

const NewEndpoint = z.strictObject({
  url: Url,
  events: z.array(EventName).min(1).meta({ description: 'Event names to receive, or ["*"] for all.' }),
  channels: z.array(z.string().min(1)).min(1).max(500).optional().meta({ description: 'Default: all.' }),
  description: z.string().trim().max(500).optional(),
  enabled: z.boolean().default(true),
});

const EndpointChange = z
  .strictObject({
    url: Url.optional(),
    events: z.array(EventName).min(1).optional(),
    channels: z.array(z.string().min(1)).min(1).max(500).nullable().optional(),
    description: z.string().trim().max(500).nullable().optional(),
    enabled: z
      .boolean()
      .optional()
      .meta({ description: 'Disabled: no deliveries (what happens meanwhile is not sent later).' }),
  })
  .refine((c) => Object.keys(c).length > 0, 'give at least one field to change');

const deliveryStatus = z.enum(['pending', 'succeeded', 'failed', 'cancelled']);

const AttemptView = z.object({
  attempt: z.number().int(),
  at: z.string(),
  status: z
    .number()
    .int()
    .nullable()
    .meta({ description: "The receiver's HTTP status; null when none came." }),
  error: z.string().nullable(),
  response: z.string().nullable().meta({ description: "The start of the receiver's answer." }),
  durationMs: z.number().int(),
});

const DeliveryView = z
  .object({
    id: z.string(),
    endpointId: z.string().nullable(),
    rule: z.string().nullable().meta({ description: "A rule's `webhook` action: the rule." }),
    event: z.string(),
    eventId: z.string().nullable(),
    webhookId: z.string().meta({ description: 'The webhook-id header, the same on every attempt.' }),
    channelId: z.string(),
    conversationId: z.string().nullable(),
    status: deliveryStatus,
    attempts: z.array(AttemptView),
    nextAttemptAt: z.string().nullable(),
    lastError: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: 'WebhookDelivery' });

const DeliveryQuery = Page.extend({ status: deliveryStatus.optional() });
const AllDeliveriesQuery = DeliveryQuery.extend({
  endpointId: z.string().optional(),
  rule: z.string().optional(),
});
const Params = z.object({ id: z.string() });

const endpointView = (e: WebhookEndpoint) => ({
  id: e.id,
  url: e.url,
  description: e.description,
  events: e.events,
  channels: e.channels,
  enabled: e.enabled,
  createdAt: iso(e.createdAt)!,
  updatedAt: iso(e.updatedAt)!,
});

export interface WebhookEndpointDeps {
  db: Kysely<Database>;
  webhooks: WebhookEndpoints;
  channels: ChannelRegistry;
}

export async function webhookEndpointRoutes(scope: FastifyInstance, deps: WebhookEndpointDeps) {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const { db, webhooks } = deps;
  const admin = { scope: 'admin' as const };

  /** The endpoint, when the key may see it. */
  const endpointFor = async (req: FastifyRequest, id: string) => {
    const e = await getEndpoint(db, id);
    if (!e || !visible(req, e)) throw errors.webhookEndpointNotFound(id);
    return e;
  };
  /** The channels a new or changed endpoint names: ones that exist, and the key sees. */
  const checkChannels = (req: FastifyRequest, channels: string[] | null | undefined) => {
    for (const id of channels ?? [])
      if (!deps.channels.get(id) || !sees(req, id)) throw errors.channelNotFound(id);
    if (channels === null && req.principal.channels !== null)
      throw errors.invalidRequest('this key sees only some channels: name them in `channels`');
  };
  const deliveriesPage = async (rows: Delivery[], limit: number) => {
    const shown = rows.slice(0, limit);
    const attempts = await attemptsOf(db, shown);
    const last = shown.at(-1);
    return {
      // One deleted since the page was read (pruned, erased) is left out, as it would be now.
      data: shown.flatMap((d) => {
        const made = attempts.get(d.id);
        return made ? [deliveryView(d, made)] : [];
      }),
      nextCursor: rows.length > limit && last ? encodeCursor([last.createdAt, last.id]) : null,
    };
  };
  const cursorOf = (cursor: string | undefined) => {
    if (cursor === undefined) return undefined;
    const key = decodeCursor(cursor);
    if (!key) throw errors.invalidCursor();
    return key;
  };
  const keyChannels = (req: FastifyRequest) => (req.principal.channels ? [...req.principal.channels] : null);

  app.get(
    '/v1/webhook-endpoints',
    { config: admin, schema: { response: { 200: z.object({ data: z.array(EndpointView) }) } } },
    async (req) => ({ data: (await listEndpoints(db)).filter((e) => visible(req, e)).map(endpointView) }),
  );

  app.post(
    '/v1/webhook-endpoints',
    { config: admin, schema: { body: NewEndpoint, response: { 201: WithSecret } } },
    async (req, reply) => {
      const { url, events, description, enabled } = req.body;
      const channels = req.body.channels ?? keyChannels(req);
      checkChannels(req, channels);
      const made = await webhooks.create(
        { url, events: [...new Set(events)], channels, description: description ?? null, enabled },
        Date.now(),
      );
      return reply.code(201).send({ ...endpointView(made.endpoint), secret: made.secret });
    },
  );

  app.get(
    '/v1/webhook-endpoints/:id',
    { config: admin, schema: { params: Params, response: { 200: EndpointView } } },
    async (req) => endpointView(await endpointFor(req, req.params.id)),
  );

  app.patch(
    '/v1/webhook-endpoints/:id',
    { config: admin, schema: { params: Params, body: EndpointChange, response: { 200: EndpointView } } },
    async (req) => {
      await endpointFor(req, req.params.id);
      const { events, ...rest } = req.body;
      if (rest.channels !== undefined) checkChannels(req, rest.channels);
      const changed = await webhooks.update(
        req.params.id,
        { ...rest, ...(events && { events: [...new Set(events)] }) },
        Date.now(),
      );
      if (!changed) throw errors.webhookEndpointNotFound(req.params.id);
      return endpointView(changed);
    },
  );

  app.delete(
    '/v1/webhook-endpoints/:id',
    {
      config: admin,
      schema: { params: Params, response: { 204: z.null().meta({ description: 'Deleted.' }) } },
    },
    async (req, reply) => {
      await endpointFor(req, req.params.id);
      if (!(await webhooks.delete(req.params.id))) throw errors.webhookEndpointNotFound(req.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/webhook-endpoints/:id/rotate-secret',
    {
      config: admin,
      schema: {
        params: Params,
        body: z.strictObject({}).optional(),
        response: { 200: WithSecret },
        description: 'A new signing secret; deliveries are signed with the previous one too for 24 hours.',
      },
    },
    async (req) => {
      const e = await endpointFor(req, req.params.id);
      const secret = await webhooks.rotate(e.id, Date.now());
      if (!secret) throw errors.webhookEndpointNotFound(e.id);
      return { ...endpointView(e), secret };
    },
  );

  app.get(
    '/v1/webhook-endpoints/:id/deliveries',
    {
      config: admin,
      schema: { params: Params, querystring: DeliveryQuery, response: { 200: page(DeliveryView) } },
    },
    async (req) => {
      const e = await endpointFor(req, req.params.id);
      const { limit, cursor, status } = req.query;
      const rows = await listDeliveries(db, {
        endpointId: e.id,
        ...(status && { status }),
        channels: keyChannels(req),
        limit: limit + 1,
        before: cursorOf(cursor),
      });
      return deliveriesPage(rows, limit);
    },
  );

  app.get(
    '/v1/webhook-deliveries',
    {
      config: admin,
      schema: {
        querystring: AllDeliveriesQuery,
        response: { 200: page(DeliveryView) },
        description: "Every delivery: endpoints' and rules' `webhook` actions'.",
      },
    },
    async (req) => {
      const { limit, cursor, status, endpointId, rule } = req.query;
      const rows = await listDeliveries(db, {
        ...(endpointId !== undefined && { endpointId }),
        ...(rule !== undefined && { rule }),
        ...(status && { status }),
        channels: keyChannels(req),
        limit: limit + 1,
        before: cursorOf(cursor),
      });
      return deliveriesPage(rows, limit);
    },
  );

  const deliveryFor = async (req: FastifyRequest, id: string) => {
    const d = await getDelivery(db, id);
    if (!d || !sees(req, d.channelId)) throw errors.deliveryNotFound(id);
    return d;
  };
  /** A delivery with its attempts; 404 if it was deleted since it was read (pruned, erased). */
  const oneDelivery = async (id: string, d: Delivery | null) => {
    const attempts = d && (await attemptsOf(db, [d])).get(d.id);
    if (!d || !attempts) throw errors.deliveryNotFound(id);
    return deliveryView(d, attempts);
  };

  app.get(
    '/v1/webhook-deliveries/:id',
    { config: admin, schema: { params: Params, response: { 200: DeliveryView } } },
    async (req) => oneDelivery(req.params.id, await deliveryFor(req, req.params.id)),
  );

  app.post(
    '/v1/webhook-deliveries/:id/retry',
    {
      config: admin,
      schema: {
        params: Params,
        body: z.strictObject({}).optional(),
        response: { 202: DeliveryView },
        description:
          'One more attempt now, with the same webhook-id: at once for a delivery waiting between attempts; ' +
          'once more for one delivered, failed or cancelled.',
      },
    },
    async (req, reply) => {
      const d = await deliveryFor(req, req.params.id);
      return reply.code(202).send(await oneDelivery(d.id, await webhooks.retry(d)));
    },
  );
}

/** A key limited to channels sees the endpoints limited to some of its channels. */
const visible = (req: FastifyRequest, e: WebhookEndpoint) =>
  req.principal.channels === null || (e.channels?.every((c) => sees(req, c)) ?? false);

function deliveryView(d: Delivery, attempts: Attempt[]) {
  return {
    id: d.id,
    endpointId: d.endpointId,
    rule: d.rule,
    event: d.event,
    eventId: d.eventId === null ? null : String(d.eventId),
    webhookId: d.webhookId,
    channelId: d.channelId,
    conversationId: d.conversationId,
    status: d.status,
    attempts: attempts.map((a) => ({ ...a, at: iso(a.at)! })),
    nextAttemptAt: d.status === 'pending' ? iso(d.nextAttemptAt) : null,
    lastError: d.lastError,
    createdAt: iso(d.createdAt)!,
  };
}
