import Fastify, { LogController } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { answerOf, errors, replyError } from './errors.ts';
import { type HealthDeps, healthRoutes } from './health.ts';
import { metricsRoutes } from './metrics.ts';

// The HTTP server of a `worker` process (docs/postgres.md, Roles): it takes no webhooks and serves
// no API, only what an orchestrator and Prometheus ask of it. Anything else is a JSON 404.

export async function buildWorkerApp(deps: HealthDeps & { metrics: Metrics; log: Logger }) {
  const app = Fastify({
    loggerInstance: deps.log,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    const answer = answerOf(err);
    if (answer.statusCode >= 500) req.log.error({ err }, 'request failed');
    return replyError(reply, answer);
  });
  await app.register(async (health) => healthRoutes(health, deps));
  await app.register(async (scope) => metricsRoutes(scope, deps.metrics));
  app.setNotFoundHandler(async (req, reply) => replyError(reply, errors.routeNotFound(req.method, req.url)));
  return app;
}
