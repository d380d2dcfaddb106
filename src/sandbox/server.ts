import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { sandboxPlugin } from './plugin.ts';
import { createSandboxState, type SandboxOptions, type SandboxState } from './state.ts';

// `igdm sandbox`: the sandbox alone on its own port, delivering webhooks to a gateway elsewhere.

export interface SandboxServerOptions extends Omit<SandboxOptions, 'webhookUrl'> {
  port: number;
  host: string;
  /** The gateway's webhook endpoint, e.g. http://127.0.0.1:3000/webhooks/meta. */
  webhookUrl: string;
  log?: Logger;
}

export interface SandboxServer {
  app: FastifyInstance;
  state: SandboxState;
  /** http://host:port */
  url: string;
  /** The Graph base URL to give the gateway's channel: http://host:port/sandbox/graph */
  graphApiUrl: string;
  close(): Promise<void>;
}

export async function runSandboxServer(opts: SandboxServerOptions): Promise<SandboxServer> {
  const { port, host, webhookUrl, log, ...rest } = opts;
  let url = '';
  const state = createSandboxState({
    ...rest,
    webhookUrl: () => webhookUrl,
    cdnUrl: () => `${url}/sandbox/cdn`,
  });
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger | undefined,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 500 },
  });
  await app.register(sandboxPlugin, { prefix: '/sandbox', state });
  await app.listen({ port, host });
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  url = `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
  return { app, state, url, graphApiUrl: `${url}/sandbox/graph`, close: () => app.close() };
}
