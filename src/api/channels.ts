import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Backfill } from '../backfill/backfill.ts';
import type { ChannelRegistry } from '../channels/registry.ts';
import { newChannel, patchedChannel } from '../channels/settings.ts';
import type { TokenView } from '../channels/token-keeper.ts';
import { GraphClient, GraphError } from '../graph/client.ts';
import { type Channel, publicChannel } from '../store/channels.ts';
import type { ChannelHealth } from '../store/schema.ts';
import { sees } from './auth.ts';
import { errors } from './errors.ts';
import { BackfillReport as BackfillReportView, Channel as ChannelView } from './schemas.ts';
import { reportView, subscriptionView } from './views.ts';

// Channels as the API shows them (never their secrets: only whether each is set), with their
// health: ok, throttled, needs_token (Meta refused the token: PATCH a new one) or paused (blocked
// for policy). Created, changed and deleted through the registry, which every part of igdm reads.

const IceBreakers = z.strictObject({
  iceBreakers: z
    .array(
      z.strictObject({ question: z.string().trim().min(1).max(80), payload: z.string().min(1).max(1000) }),
    )
    .max(4, 'Instagram shows at most 4 ice breakers'),
});
const Params = z.object({ id: z.string() });

const ChannelId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'an id is 1 to 64 letters, digits, "_" or "-"');
const MetaId = z.string().regex(/^\d{1,30}$/, 'a numeric Meta id');
const Name = z.string().trim().min(1).max(100);
const Login = z.enum(['instagram', 'facebook']);
const Secret = z.string().trim().min(1).max(2000);
const GraphApiUrl = z.url({ protocol: /^https?$/ }).max(500);

const NewChannel = z.strictObject({
  id: ChannelId.optional(),
  name: Name,
  accountId: MetaId,
  pageId: MetaId.nullable().optional(),
  login: Login.default('instagram'),
  accessToken: Secret,
  appSecret: Secret,
  verifyToken: Secret,
  graphApiUrl: GraphApiUrl.optional(),
  appId: MetaId.nullable()
    .optional()
    .meta({ description: "The Meta app's id: igdm asks debug_token for the token's expiry." }),
});

const ChannelChange = z
  .strictObject({
    name: Name.optional(),
    accountId: MetaId.optional(),
    pageId: MetaId.nullable().optional(),
    login: Login.optional(),
    accessToken: Secret.optional(),
    appSecret: Secret.optional(),
    verifyToken: Secret.optional(),
    graphApiUrl: GraphApiUrl.nullable().optional(),
    appId: MetaId.nullable().optional(),
  })
  .refine((c) => Object.keys(c).length > 0, 'give at least one field to change');

export interface ChannelRouteDeps {
  channels: ChannelRegistry;
  health: (channelId: string) => ChannelHealth;
  /** What is known of the channel's access token: its expiry, its refresh (channels/token-keeper.ts). */
  token: (channel: Channel) => TokenView;
  /** GRAPH_API_VERSION, for a Graph API URL that names no version. */
  graphApiVersion: string;
  backfill: Backfill;
}

/** How far back an import reads by default. */
const IMPORT_DEFAULT_MS = 24 * 60 * 60 * 1000;
const Import = z.strictObject({
  since: z.iso
    .datetime({ offset: true })
    .optional()
    .meta({ description: 'Read messages written since then (default: the last 24 hours).' }),
});

/** An id igdm makes for a channel created without one. */
const newChannelId = () => `ch_${randomBytes(12).toString('base64url')}`;

export async function channelRoutes(scope: FastifyInstance, deps: ChannelRouteDeps) {
  const { channels } = deps;
  /** The channel, if the caller's key sees it; else 404. */
  const find = (req: FastifyRequest, id: string) => {
    const channel = channels.get(id);
    if (!channel || !sees(req, id)) throw errors.channelNotFound(id);
    return channel;
  };
  const admin = { scope: 'admin' as const };
  const shown = (c: Channel) => ({
    ...publicChannel(c, deps.health(c.id), deps.token(c)),
    webhookSubscription: subscriptionView(deps.backfill.subscriptionOf(c.id)),
  });
  const app = scope.withTypeProvider<ZodTypeProvider>();

  app.get(
    '/v1/channels',
    { schema: { response: { 200: z.object({ data: z.array(ChannelView) }) } } },
    async (req) => ({
      data: channels
        .list()
        .filter((c) => sees(req, c.id))
        .map(shown),
    }),
  );

  app.post(
    '/v1/channels',
    // A key limited to channels would not see the channel it made.
    { config: { ...admin, allChannels: true }, schema: { body: NewChannel, response: { 201: ChannelView } } },
    async (req, reply) => {
      const id = req.body.id ?? newChannelId();
      const result = await channels.create(newChannel({ ...req.body, id }, deps.graphApiVersion));
      if ('conflict' in result) {
        if (result.conflict === 'id') throw errors.channelExists(id);
        throw errors.accountInUse(req.body.accountId, result.other ?? '');
      }
      return reply.code(201).send(shown(result.created));
    },
  );

  app.get('/v1/channels/:id', { schema: { params: Params, response: { 200: ChannelView } } }, async (req) =>
    shown(find(req, req.params.id)),
  );

  app.patch(
    '/v1/channels/:id',
    { config: admin, schema: { params: Params, body: ChannelChange, response: { 200: ChannelView } } },
    async (req) => {
      find(req, req.params.id);
      const change = req.body;
      const result = await channels.update(
        req.params.id,
        (c) => patchedChannel(c, change, deps.graphApiVersion),
        change.accessToken !== undefined,
      );
      if ('notFound' in result) throw errors.channelNotFound(req.params.id);
      if ('conflict' in result) throw errors.accountInUse(change.accountId ?? '', result.other);
      return shown(result.updated);
    },
  );

  app.delete(
    '/v1/channels/:id',
    {
      config: admin,
      schema: { params: Params, response: { 204: z.null().meta({ description: 'Deleted.' }) } },
    },
    async (req, reply) => {
      find(req, req.params.id);
      const outcome = await channels.remove(req.params.id);
      if (outcome === 'not_found') throw errors.channelNotFound(req.params.id);
      if (outcome === 'environment') throw errors.environmentChannel(req.params.id);
      return reply.code(204).send(null);
    },
  );

  // A newly connected channel's recent history (or a catch-up after an outage): read from the
  // Conversations API at 2 calls/s, so a busy account takes minutes; the answer is the run's report.
  app.post(
    '/v1/channels/:id/import',
    {
      config: admin,
      schema: { params: Params, body: Import.optional(), response: { 200: BackfillReportView } },
    },
    async (req) => {
      const channel = find(req, req.params.id);
      const since = req.body?.since ? Date.parse(req.body.since) : Date.now() - IMPORT_DEFAULT_MS;
      return reportView(await deps.backfill.run(channel.id, since, 'import'));
    },
  );

  app.put(
    '/v1/channels/:id/ice-breakers',
    {
      // Refused ice breakers are well-formed JSON that Instagram would not take: 422.
      config: { ...admin, invalidInput: errors.invalidIceBreakers },
      schema: { params: Params, body: IceBreakers, response: { 200: IceBreakers } },
    },
    async (req) => {
      const channel = find(req, req.params.id);
      const { iceBreakers } = req.body;
      const client = new GraphClient(channel);
      try {
        if (iceBreakers.length === 0) await client.deleteIceBreakers();
        else await client.setIceBreakers(iceBreakers);
      } catch (err) {
        if (!(err instanceof GraphError)) throw err;
        throw errors.iceBreakersRefused(err.failure.reason, err.failure.message);
      }
      return { iceBreakers };
    },
  );
}
