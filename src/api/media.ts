import { readFile } from 'node:fs/promises';
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
      // Whole (at most IGDM_MEDIA_MAX_FILE_MB): a streamed answer left its connection open past
      // the server's close.
      const body = await readFile(m.file).catch(() => null);
      if (body === null) throw errors.mediaNotFound(req.params.id);
      return reply
        .header('content-type', m.contentType ?? 'application/octet-stream')
        .header('cache-control', 'private, max-age=86400')
        .send(body as unknown as string); // bytes as they are, not serialised
    },
  );
}
