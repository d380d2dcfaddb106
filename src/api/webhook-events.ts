import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database } from '../store/schema.ts';
import { listWebhookEvents } from '../store/webhook-events.ts';
import { errors } from './errors.ts';
import { decodeCursor, encodeCursor, Page } from './pages.ts';
import { page, WebhookEvent } from './schemas.ts';

// The event log as stored, with what became of each event: applied, unapplied (with the reason it
// could not be) or ignored (deliberately not applied, with the reason). Nothing Meta sends is dropped
// without a word: this is where an operator sees what was not applied. Events waiting to be applied
// are in none of these lists yet. Admin keys only: events of no channel are here too.

const ListQuery = Page.extend({
  status: z.enum(['applied', 'unapplied', 'ignored']).optional(),
  channelId: z.string().optional(),
  kind: z.string().optional().meta({ description: 'message, echo, reaction, edit, comments, unknown, ...' }),
});

const iso = (ms: number) => new Date(Number(ms)).toISOString();

export async function webhookEventRoutes(scope: FastifyInstance, deps: { db: Kysely<Database> }) {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  app.get(
    '/v1/webhook-events',
    {
      config: { scope: 'admin', allChannels: true },
      schema: { querystring: ListQuery, response: { 200: page(WebhookEvent) } },
    },
    async (req) => {
      const { status, channelId, kind, limit, cursor } = req.query;
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      if (after === null) throw errors.invalidCursor();
      const found = await listWebhookEvents(deps.db, {
        limit,
        ...(status && { status }),
        ...(channelId && { channelIds: [channelId] }),
        ...(kind && { kind }),
        ...(after && { beforeId: Number(after[1]) }),
      });
      const last = found.rows.at(-1);
      return {
        data: found.rows.map((e) => ({
          id: Number(e.id),
          channelId: e.channelId,
          kind: e.kind,
          object: e.object,
          source: e.source,
          status: e.applyStatus!,
          reason: e.applyError,
          receivedAt: iso(e.receivedAt),
          raw: JSON.parse(e.payload) as unknown,
        })),
        nextCursor: found.more && last ? encodeCursor([Number(last.receivedAt), String(last.id)]) : null,
      };
    },
  );
}
