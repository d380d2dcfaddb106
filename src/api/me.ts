import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { SCOPES } from '../store/api-keys.ts';

// GET /v1/me: who the caller's key is (its name, agent, scopes and channels), and whether igdm runs
// its sandbox, so that a client (the inbox) shows what the key may do and the sandbox's panel.

const Me = z
  .object({
    keyId: z.string().nullable().meta({ description: 'null for IGDM_API_KEY.' }),
    name: z.string().meta({ description: 'The key\'s name; "IGDM_API_KEY" for that one.' }),
    agent: z.string().nullable().meta({ description: 'The person the key belongs to.' }),
    scopes: z.array(z.enum(SCOPES)),
    channels: z.array(z.string()).nullable().meta({ description: 'The channels it sees; null for all.' }),
    sandbox: z.boolean().meta({ description: 'igdm runs its sandbox (no Instagram credentials).' }),
  })
  .meta({ id: 'Me' });

export async function meRoutes(scope: FastifyInstance, deps: { sandbox: boolean }) {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  app.get('/v1/me', { schema: { response: { 200: Me } } }, async (req) => {
    const { keyId, name, agent, scopes, channels } = req.principal;
    return {
      keyId,
      name,
      agent,
      scopes: SCOPES.filter((s) => scopes.has(s)),
      channels: channels === null ? null : [...channels],
      sandbox: deps.sandbox,
    };
  });
}
