import type { FastifyInstance } from 'fastify';
import { cdnControlRoutes, cdnRoutes } from './cdn.ts';
import { controlRoutes } from './control.ts';
import { graphRoutes } from './graph.ts';
import { createSandboxState, type SandboxOptions, type SandboxState } from './state.ts';

// The sandbox as a Fastify plugin: register it with a prefix (e.g. /sandbox) to get
//   <prefix>/graph/:version/...   the emulated Graph API (a channel's Graph base URL)
//   <prefix>/messages, /outbox, /failures, /customers, ...   the simulated customers and controls

export const SANDBOX_BODY_LIMIT = 1024 * 1024;

export type SandboxPluginOptions = (SandboxOptions | { state: SandboxState }) & {
  /**
   * Called with the Fastify scope of the control routes (not the Graph routes, which check the
   * access token), e.g. to require igdm's API key there.
   */
  protectControl?: (scope: FastifyInstance) => void | Promise<void>;
};

export async function sandboxPlugin(app: FastifyInstance, opts: SandboxPluginOptions) {
  const state = 'state' in opts ? opts.state : createSandboxState(opts);
  // Bodies arrive raw: the Graph routes take JSON and form-encoded bodies, as Meta does, and answer
  // a bad one with Meta's error shape instead of Fastify's.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: SANDBOX_BODY_LIMIT }, (_req, body, done) =>
    done(null, body),
  );
  // Before the server waits for in-flight requests: cut held ones, stop background deliveries.
  app.addHook('preClose', async () => state.close());
  await app.register(graphRoutes, { prefix: '/graph', state });
  await app.register(cdnRoutes, { cdn: state.cdn });
  await app.register(async (scope) => {
    if (opts.protectControl) await opts.protectControl(scope);
    await controlRoutes(scope, { state });
    await cdnControlRoutes(scope, { cdn: state.cdn });
  });
}
