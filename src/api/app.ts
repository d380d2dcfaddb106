import Fastify, { LogController } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { ApprovalDeps } from '../approvals/create.ts';
import type { Backfill } from '../backfill/backfill.ts';
import type { ChannelRegistry } from '../channels/registry.ts';
import type { TokenView } from '../channels/token-keeper.ts';
import type { WebhookEndpoints } from '../deliveries/endpoints.ts';
import type { HandoverResult, Owner } from '../engine/handover.ts';
import type { EventHub } from '../events/hub.ts';
import type { WebhookWriter } from '../ingest/writer.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Projection } from '../projection/thread.ts';
import type { WorkQueue } from '../queue/queue.ts';
import { type SandboxState, sandboxPlugin } from '../sandbox/index.ts';
import type { Channel } from '../store/channels.ts';
import type { Store } from '../store/index.ts';
import type { ChannelHealth } from '../store/schema.ts';
import { approvalRoutes } from './approvals.ts';
import { attachmentRoutes } from './attachments.ts';
import { type ApiKeys, requireApiKey } from './auth.ts';
import { channelRoutes } from './channels.ts';
import { clientErrorHandler } from './client-errors.ts';
import { commentRoutes } from './comments.ts';
import { contactRoutes } from './contacts.ts';
import { conversationRoutes } from './conversations.ts';
import { dataDeletionRoutes } from './data-deletion.ts';
import { ApiError, answerOf, errors, replyError } from './errors.ts';
import { eventRoutes } from './events.ts';
import { healthRoutes } from './health.ts';
import { capConnections, type HttpLimits, serverTimeouts } from './http-limits.ts';
import { DEFAULT_INBOX_DIR, inboxRoutes } from './inbox.ts';
import { jobRoutes } from './jobs.ts';
import { apiKeyRoutes } from './keys.ts';
import { meRoutes } from './me.ts';
import { mediaRoutes } from './media.ts';
import { messageRoutes } from './messages.ts';
import { metricsRoutes } from './metrics.ts';
import { describeKeyedRoutes, openApi } from './openapi.ts';
import { savedReplyRoutes } from './saved-replies.ts';
import { inputError } from './schema-errors.ts';
import { webhookEndpointRoutes } from './webhook-endpoints.ts';
import { webhookEventRoutes } from './webhook-events.ts';
import { webhookRoutes } from './webhooks.ts';

export interface AppDeps {
  store: Store;
  /** A path on the disk igdm writes to (/readyz's free space): the SQLite file, or the data folder. */
  diskPath: string;
  writer: WebhookWriter;
  /** Applying stored events, in /readyz: absent in a `web` process (its readiness is storing them). */
  projection?: Projection;
  /** The live channels: read by every route, changed through /v1/channels. */
  channels: ChannelRegistry;
  /** GRAPH_API_VERSION, for a channel's Graph API URL that names no version. */
  graphApiVersion: string;
  /** Each channel's health, as the sender has it. */
  channelHealth: (channelId: string) => ChannelHealth;
  /** What is known of each channel's access token (channels/token-keeper.ts). */
  channelToken: (channel: Channel) => TokenView;
  /** Catching up on missed webhooks (POST /v1/channels/:id/import, webhook subscription checks). */
  backfill: Backfill;
  /** The API keys: IGDM_API_KEY and those made through the API. */
  keys: ApiKeys;
  /** The event log's live fan-out (GET /v1/events). */
  hub: EventHub;
  /** Outbound webhook endpoints and deliveries retried by hand. */
  webhooks: WebhookEndpoints;
  log: Logger;
  /** The clock of the policy (tests move it). */
  now: () => number;
  queue: WorkQueue;
  /** Moves a conversation between the bot and humans (and Meta's thread control, when configured). */
  handover: (conversationId: string, to: Owner) => Promise<HandoverResult>;
  /** A contact was erased (DELETE /v1/contacts/:id): their conversations, for in-memory state. */
  contactErased?: (conversationIds: readonly string[]) => void;
  /** The emulated Graph API and simulated customers, when igdm runs without credentials. */
  sandbox?: SandboxState;
  /** Timeouts and the connection cap that keep the service answering under slow clients. */
  httpLimits: HttpLimits;
  /** /readyz reports not ready under this much free space on the store's disk. */
  minFreeDiskBytes: number;
  /** The built inbox, served at / (default web/dist). */
  inboxDir?: string;
  /** Served at GET /metrics. */
  metrics: Metrics;
  /** PUBLIC_URL: where Meta and people reach igdm. */
  publicUrl?: string | null;
  /** Asking for approvals over DM: the store, the sends' queue, the box that seals masked values. */
  approvals: ApprovalDeps;
}

export async function buildApp(deps: AppDeps) {
  const app = Fastify({
    loggerInstance: deps.log,
    // Per-request lines would cost the ingest path; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // Meta's bursts arrive on few keep-alive connections; let in-flight requests finish on close.
    return503OnClosing: true,
    routerOptions: { maxParamLength: 500 },
    forceCloseConnections: 'idle',
    clientErrorHandler: clientErrorHandler(deps.log),
    ...serverTimeouts(deps.httpLimits),
  });
  capConnections(app.server, deps.httpLimits.maxConnections, deps.log);

  // Each route's zod schemas check its input and its answer, and make the OpenAPI document.
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    const answer = inputError(err, req) ?? answerOf(err);
    if (answer.statusCode >= 500 && !(err instanceof ApiError)) req.log.error({ err }, 'request failed');
    return replyError(reply, answer);
  });
  await openApi(app);
  await app.register(async (health) =>
    healthRoutes(health, {
      store: deps.store,
      diskPath: deps.diskPath,
      writer: deps.writer,
      projection: deps.projection,
      minFreeDiskBytes: deps.minFreeDiskBytes,
    }),
  );
  await app.register(async (scope) => metricsRoutes(scope, deps.metrics));
  const inbox = await inboxRoutes(app, { dir: deps.inboxDir ?? DEFAULT_INBOX_DIR, log: deps.log });
  app.setNotFoundHandler(async (req, reply) => {
    if (await inbox.fallback(req, reply)) return reply;
    return replyError(reply, errors.routeNotFound(req.method, req.url));
  });

  if (deps.sandbox) {
    await app.register(sandboxPlugin, {
      prefix: '/sandbox',
      state: deps.sandbox,
      protectControl: (scope) => requireApiKey(scope, deps.keys),
    });
  }
  await app.register(dataDeletionRoutes, {
    db: deps.store.db,
    channels: deps.channels.list,
    now: deps.now,
    log: deps.log,
    publicUrl: deps.publicUrl ?? null,
    erased: deps.contactErased,
  });
  await app.register(webhookRoutes, {
    channels: deps.channels.list,
    writer: deps.writer,
    log: deps.log,
    metrics: deps.metrics,
  });
  await app.register(async (v1) => {
    requireApiKey(v1, deps.keys);
    describeKeyedRoutes(v1);
    await apiKeyRoutes(v1, { db: deps.store.db, keys: deps.keys, channels: deps.channels, now: deps.now });
    await conversationRoutes(v1, deps.store.db, deps.handover, deps.now);
    await contactRoutes(v1, { db: deps.store.db, now: deps.now, erased: deps.contactErased });
    await messageRoutes(v1, {
      db: deps.store.db,
      channels: deps.channels.list,
      jobs: deps.queue,
      now: deps.now,
      handover: deps.handover,
    });
    await jobRoutes(v1, deps.queue);
    await webhookEventRoutes(v1, { db: deps.store.db });
    await eventRoutes(v1, { db: deps.store.db, hub: deps.hub });
    await webhookEndpointRoutes(v1, { db: deps.store.db, webhooks: deps.webhooks, channels: deps.channels });
    await channelRoutes(v1, {
      channels: deps.channels,
      health: deps.channelHealth,
      token: deps.channelToken,
      graphApiVersion: deps.graphApiVersion,
      backfill: deps.backfill,
    });
    await meRoutes(v1, { sandbox: deps.sandbox !== undefined });
    await savedReplyRoutes(v1, { db: deps.store.db, now: deps.now });
    await mediaRoutes(v1, { db: deps.store.db });
    await commentRoutes(v1, { db: deps.store.db, channels: deps.channels.list, now: deps.now });
    await approvalRoutes(v1, { ...deps.approvals, channels: deps.channels.list, now: deps.now });
    // Meta may take as long to answer an upload as the upload to igdm could take to arrive.
    await v1.register(attachmentRoutes, {
      channels: deps.channels.list,
      timeoutMs: deps.httpLimits.requestTimeoutMs,
    });
  });
  return app;
}
