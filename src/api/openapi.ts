import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { ErrorBody } from './schemas.ts';

// The API's reference: GET /openapi.json (OpenAPI 3.1, made from the zod schemas the routes
// validate with) and a browsable one at /docs (Swagger UI, served from the package: nothing loaded
// from another host, igdm is self-hosted). Neither needs a key. Registered before the routes: the
// document collects them as they are added.

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const BEARER = 'bearer';

/** Documented: the REST API and health. Not the webhooks (raw bytes), the sandbox, nor the reference itself. */
const documented = (url: string) => url.startsWith('/v1/') || url === '/healthz' || url === '/readyz';

/** On the root instance (its logger is igdm's own), so that the document sees every route. */
export async function openApi<L extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, L>,
) {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'igdm',
        version,
        description:
          'Self-hosted Instagram Direct Message gateway. Every /v1 route needs `Authorization: Bearer <IGDM_API_KEY>`. ' +
          'Errors answer `{ "error": { "code", "message" } }`.',
      },
      components: {
        securitySchemes: { [BEARER]: { type: 'http', scheme: 'bearer', description: 'IGDM_API_KEY' } },
      },
    },
    transform: (doc) =>
      documented(doc.url) ? jsonSchemaTransform(doc) : { schema: { hide: true }, url: doc.url },
    transformObject: (doc) => withoutUnused(jsonSchemaTransformObject(doc)),
  });
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    // No validator badge: Swagger UI would fetch it from validator.swagger.io.
    validatorUrl: false,
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}

/**
 * The type provider writes each named schema twice, as a request (`<id>Input`) and as an answer
 * (`<id>`), used or not: keep the components the document refers to.
 */
function withoutUnused<D extends object>(document: D): D {
  const doc = document as { components?: { schemas?: Record<string, unknown> } };
  const schemas = { ...doc.components?.schemas };
  const pruned = () => ({ ...doc, components: { ...doc.components, schemas } }) as D;
  for (;;) {
    const text = JSON.stringify(pruned());
    const unused = Object.keys(schemas).filter((id) => !text.includes(`"#/components/schemas/${id}"`));
    if (unused.length === 0) return pruned();
    for (const id of unused) delete schemas[id];
  }
}

const refused = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorBody } },
});

/**
 * Each route registered in `scope` from now on (the /v1 routes) declares the bearer key, and that
 * its errors have the one error shape.
 */
export function describeKeyedRoutes(scope: FastifyInstance) {
  scope.addHook('onRoute', (route) => {
    const schema = route.schema ?? {};
    route.schema = {
      ...schema,
      security: [{ [BEARER]: [] }],
      response: {
        ...(schema.response as object),
        '4xx': refused('Refused: the code says why (401 without the key, 404 for what does not exist).'),
        '5xx': refused('igdm or Meta failed; retry later.'),
      },
    } as typeof route.schema;
  });
}
