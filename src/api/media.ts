import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { findKeptMedia } from '../store/kept-media.ts';
import type { Database } from '../store/schema.ts';
import { sees } from './auth.ts';
import { errors } from './errors.ts';

// GET /v1/media/:id: igdm's copy of an inbound attachment (media/keeper.ts), for when Meta's link
// has expired. A message's attachment names its copy (`kept.url`); a key limited to channels gets
// only theirs.

export async function mediaRoutes(scope: FastifyInstance, deps: { db: Kysely<Database> }) {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  app.get(
    '/v1/media/:id',
    {
      schema: {
        params: z.object({ id: z.string() }),
        response: {
          200: z.string().meta({ description: "The file, with the content type Meta's CDN gave it." }),
        },
      },
    },
    async (req, reply) => {
      const m = await findKeptMedia(deps.db, req.params.id);
      if (m?.status !== 'kept' || !m.file || !sees(req, m.channelId))
        throw errors.mediaNotFound(req.params.id);
      const size = await stat(m.file).then(
        (s) => s.size,
        () => null,
      );
      if (size === null) throw errors.mediaNotFound(req.params.id);
      return reply
        .header('content-type', m.contentType ?? 'application/octet-stream')
        .header('content-length', size)
        .header('cache-control', 'private, max-age=86400')
        .send(createReadStream(m.file) as unknown as string); // streamed as it is, not serialised
    },
  );
}
