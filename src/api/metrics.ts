import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics.ts';

// GET /metrics: Prometheus's text format, without a key like /healthz (it says nothing of anyone's
// messages: counts, and reasons of events igdm could not apply).

export async function metricsRoutes(app: FastifyInstance, metrics: Metrics) {
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const { contentType, text } = await metrics.exposition();
    return reply.type(contentType).send(text);
  });
}
