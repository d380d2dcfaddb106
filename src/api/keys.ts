import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { ChannelRegistry } from '../channels/registry.ts';
import { listApiKeys, SCOPES } from '../store/api-keys.ts';
import type { Database } from '../store/schema.ts';
import { type ApiKeys, sees } from './auth.ts';
import { errors } from './errors.ts';

// API keys (admin): made with a name, the scopes they have (read, send, admin; read and send when
// not said), the channels they see (all when not said; a limited key's own) and the agent they belong to. The key is
// answered once; afterwards only its last characters. Revoking takes effect at once.

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const ApiKeyView = z
  .object({
    id: z.string(),
    name: z.string(),
    agent: z.string().nullable(),
    channels: z.array(z.string()).nullable().meta({ description: 'The channels it sees; null for all.' }),
    scopes: z.array(z.enum(SCOPES)),
    hint: z.string().meta({ description: "The key's last 4 characters." }),
    createdAt: z.string(),
    revokedAt: z.string().nullable(),
  })
  .meta({ id: 'ApiKey' });

const NewKey = z.strictObject({
  name: z.string().trim().min(1).max(100),
  agent: z.string().trim().min(1).max(100).optional().meta({ description: 'The person the key belongs to.' }),
  channels: z.array(z.string().min(1)).min(1).max(500).optional(),
  scopes: z.array(z.enum(SCOPES)).min(1).optional().meta({ description: 'Default: read and send.' }),
});

const Params = z.object({ id: z.string() });

export async function apiKeyRoutes(
  scope: FastifyInstance,
  deps: { db: Kysely<Database>; keys: ApiKeys; channels: ChannelRegistry; now: () => number },
) {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const admin = { scope: 'admin' as const };
  const shown = <K extends { createdAt: number; revokedAt: number | null }>(k: K) => ({
    ...k,
    createdAt: iso(k.createdAt)!,
    revokedAt: iso(k.revokedAt),
  });

  // A key limited to channels sees, makes and revokes only keys limited to some of its channels,
  // and no key gives a scope its maker does not have.
  const visible = (req: FastifyRequest, k: { channels: string[] | null }) =>
    req.principal.channels === null || (k.channels?.every((c) => sees(req, c)) ?? false);

  app.get(
    '/v1/api-keys',
    { config: admin, schema: { response: { 200: z.object({ data: z.array(ApiKeyView) }) } } },
    async (req) => ({ data: (await listApiKeys(deps.db)).filter((k) => visible(req, k)).map(shown) }),
  );

  app.post(
    '/v1/api-keys',
    {
      config: admin,
      schema: {
        body: NewKey,
        response: { 201: ApiKeyView.extend({ key: z.string().meta({ description: 'Shown this once.' }) }) },
      },
    },
    async (req, reply) => {
      const { name, agent } = req.body;
      const channels = req.body.channels ?? (req.principal.channels ? [...req.principal.channels] : null);
      for (const id of channels ?? [])
        if (!deps.channels.get(id) || !sees(req, id)) throw errors.channelNotFound(id);
      const scopes = req.body.scopes ?? ['read', 'send'];
      for (const s of scopes) if (!req.principal.scopes.has(s)) throw errors.scopeNotHeld(s);
      const made = await deps.keys.create({ name, agent: agent ?? null, channels, scopes }, Date.now());
      return reply.code(201).send(shown(made));
    },
  );

  app.delete(
    '/v1/api-keys/:id',
    {
      config: admin,
      schema: { params: Params, response: { 204: z.null().meta({ description: 'Revoked.' }) } },
    },
    async (req, reply) => {
      const key = (await listApiKeys(deps.db)).find((k) => k.id === req.params.id);
      if (!key || !visible(req, key) || !(await deps.keys.revoke(key.id, Date.now())))
        throw errors.apiKeyNotFound(req.params.id);
      return reply.code(204).send(null);
    },
  );
}
