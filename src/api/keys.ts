import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { ChannelRegistry } from '../channels/registry.ts';
import { listApiKeys, SCOPES } from '../store/api-keys.ts';
import type { Database } from '../store/schema.ts';
import type { ApiKeys } from './auth.ts';
import { errors } from './errors.ts';

// API keys (admin): made with a name, the scopes they have (read, send, admin; read and send when
// not said), the channels they see (all when not said) and the agent they belong to. The key is
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

  app.get(
    '/v1/api-keys',
    { config: admin, schema: { response: { 200: z.object({ data: z.array(ApiKeyView) }) } } },
    async () => ({ data: (await listApiKeys(deps.db)).map(shown) }),
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
      const { name, agent, channels, scopes } = req.body;
      for (const id of channels ?? []) if (!deps.channels.get(id)) throw errors.channelNotFound(id);
      const made = await deps.keys.create(
        { name, agent: agent ?? null, channels: channels ?? null, scopes: scopes ?? ['read', 'send'] },
        Date.now(),
      );
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
      if (!(await deps.keys.revoke(req.params.id, Date.now()))) throw errors.apiKeyNotFound(req.params.id);
      return reply.code(204).send(null);
    },
  );
}
