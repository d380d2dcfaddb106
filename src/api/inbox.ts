import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  RawServerDefault,
} from 'fastify';
import type { Logger } from '../log.ts';

// The agent inbox (web/, built into web/dist by `npm install`): its hashed assets are cached for a
// year, index.html never without asking again, and any other page the app shows (/conversations/…)
// answers index.html, so a reload or a shared link opens the app there. The API, webhooks, sandbox
// and docs keep their own routes and their JSON 404. Without a build, / says how to make one.

/** Where `npm run build --workspace @igdm/web` puts the app. */
export const DEFAULT_INBOX_DIR = fileURLToPath(new URL('../../web/dist/', import.meta.url));

export const BUILD_COMMAND = 'npm run build --workspace @igdm/web';

/** Paths that belong to igdm's own routes: never answered with the app. */
const RESERVED = /^\/(v1|sandbox|webhooks|docs|assets)(\/|$)|^\/(openapi\.json|healthz|readyz)$/;

// The key is kept in localStorage, so no script may come from elsewhere; media come from Meta's
// CDN (any https host) and, for tests and the sandbox, from anywhere.
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  'img-src * data: blob:',
  'media-src * data: blob:',
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>igdm</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem">
<h1>igdm is running</h1>
<p>The inbox is not built. In igdm's folder, run <code>${BUILD_COMMAND}</code> (or <code>npm install</code>),
then reload this page.</p>
<p>The API answers at <a href="/docs">/docs</a>.</p>
</body></html>
`;

export interface InboxOptions {
  /** The built app (web/dist). */
  dir: string;
  log: Logger;
}

export interface Inbox {
  /** Answers a client route with the app; false when the request is not one. */
  fallback(req: FastifyRequest, reply: FastifyReply): Promise<boolean>;
}

/** On the root instance, like the API reference: its not-found handler calls `fallback`. */
export async function inboxRoutes<L extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, L>,
  options: InboxOptions,
): Promise<Inbox> {
  const index = join(options.dir, 'index.html');
  if (!existsSync(index))
    options.log.warn(
      { dir: options.dir },
      `the inbox is not built: run \`${BUILD_COMMAND}\` (or npm install) to serve it at /`,
    );

  // Read at every request (it is small): a build made while igdm runs is served at once.
  const sendIndex = async (reply: FastifyReply) => {
    const html = await readFile(index, 'utf8').catch(() => null);
    reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8');
    if (html === null) return reply.code(200).send(NOT_BUILT);
    return reply
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .send(html);
  };

  await app.register(fastifyStatic, {
    root: join(options.dir, 'assets'),
    prefix: '/assets/',
    // Files of a later build are served too (their names are new).
    wildcard: true,
    index: false,
    // The build writes .br and .gz beside each asset.
    preCompressed: true,
    cacheControl: false,
    setHeaders: (reply) => {
      reply.header('cache-control', 'public, max-age=31536000, immutable');
      reply.header('x-content-type-options', 'nosniff');
    },
  });
  app.get('/', { schema: { hide: true } }, (_req, reply) => sendIndex(reply));

  return {
    async fallback(req, reply) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      const path = req.url.split('?')[0]!;
      if (RESERVED.test(path) || !(req.headers.accept ?? '').includes('text/html')) return false;
      await sendIndex(reply);
      return true;
    },
  };
}
