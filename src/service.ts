import { join } from 'node:path';
import { apiKeyHash } from './api/api-key.ts';
import { type AppDeps, buildApp } from './api/app.ts';
import { ApiKeys } from './api/auth.ts';
import { buildWorkerApp } from './api/worker-app.ts';
import { ApprovalAnswers } from './approvals/answers.ts';
import { ApprovalExpiry } from './approvals/expiry.ts';
import { Backfill } from './backfill/backfill.ts';
import { ChannelRegistry } from './channels/registry.ts';
import { environmentChannel } from './channels/settings.ts';
import { TokenKeeper } from './channels/token-keeper.ts';
import { StoredHealth } from './cluster/stored-health.ts';
import type { Config } from './config.ts';
import { Deliverer } from './deliveries/deliverer.ts';
import { Dispatcher } from './deliveries/dispatcher.ts';
import { WebhookEndpoints } from './deliveries/endpoints.ts';
import { WEBHOOK_QUEUE } from './deliveries/jobs.ts';
import { createAi } from './engine/ai/index.ts';
import { type AutomationConfig, loadAutomationConfig } from './engine/automation/config.ts';
import { Engine } from './engine/engine.ts';
import { handOverConversation } from './engine/handover.ts';
import { Profiles } from './engine/profiles.ts';
import { EventHub } from './events/hub.ts';
import type { WebhookWriter } from './ingest/writer.ts';
import type { Logger } from './log.ts';
import { MEDIA_QUEUE } from './media/jobs.ts';
import { MediaKeeper } from './media/keeper.ts';
import { Metrics } from './metrics.ts';
import { ENGINE_QUEUE } from './projection/engine-jobs.ts';
import type { Projection } from './projection/thread.ts';
import type { WorkQueue } from './queue/queue.ts';
import { createSandboxState, type SandboxState, sandboxChannelSettings } from './sandbox/index.ts';
import { Health } from './send/channel-health.ts';
import { openLimits } from './send/limits.ts';
import { QueuedHere } from './send/queued-here.ts';
import { Sender } from './send/sender.ts';
import { followChanges, PeriodicTasks, runPeriodic, runsOf } from './service-roles.ts';
import { openServiceStore, storeParts } from './service-store.ts';
import type { Store } from './store/index.ts';
import { SecretBox } from './store/secret-box.ts';

// The running service: the store, the ingest path, the projection, the queue's workers and the HTTP
// app, started and stopped together. What differs by store is chosen in service-store.ts.

export interface Service {
  app: Awaited<ReturnType<typeof buildApp>>;
  /** The embedded store, or PostgreSQL (docs/postgres.md). */
  store: Store;
  writer: WebhookWriter;
  projection: Projection;
  sender: Sender;
  /** The replies the engine queued, remembered for this process's sender (send/queued-here.ts). */
  queuedHere: QueuedHere;
  queue: WorkQueue;
  engine: Engine;
  /** Catching up on missed webhooks (src/backfill/). */
  backfill: Backfill;
  /** The live channels: every part of igdm reads them here, and /v1/channels changes them. */
  channels: ChannelRegistry;
  /** The sandbox, when igdm runs without credentials. */
  sandbox?: SandboxState;
  /** The address the HTTP server listens on. */
  url: string;
  close(): Promise<void>;
}

/** How long the worker threads may take to start. */
const WORKER_START_MS = 30_000;

export interface ServiceOptions {
  /** The clock of the policy and the sender; tests move it instead of waiting days. */
  now?: () => number;
  /** Where the AI providers read their keys and base URLs (default: process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** How long the start waits for the store's integrity check (store/integrity.ts). */
  integrityBudgetMs?: number;
  /** The built inbox, served at / (default web/dist). */
  inboxDir?: string;
  /** How often the channels' tokens are looked at (default hourly); tests make it short. */
  tokenCheckEveryMs?: number;
  /** How often approvals past their time are looked for (default every second). */
  approvalSweepEveryMs?: number;
  /** On PostgreSQL, how often a process tries to become the periodic tasks' leader (default 3 s). */
  leaderRetryMs?: number;
}

export async function startService(
  config: Config,
  log: Logger,
  options: ServiceOptions = {},
): Promise<Service> {
  const now = options.now ?? Date.now;
  // The automation file and the AI keys are checked before anything starts.
  const automation: AutomationConfig | null = config.configPath
    ? loadAutomationConfig(config.configPath)
    : null;
  const ai = createAi(
    automation?.ai ?? { provider: 'none', timeoutMs: 10_000, intent: 'offline' },
    options.env ?? process.env,
  );
  const opened = await openServiceStore(config, log, { integrityBudgetMs: options.integrityBudgetMs });
  const { store, dataDir } = opened;
  const box = SecretBox.fromHexOrFile(config.secretKey, join(dataDir, 'secret.key'));
  // What this process runs (IGDM_ROLE): the HTTP app, the work, or both (service-roles.ts).
  const runs = runsOf(config.role);
  // Without credentials igdm runs against its sandbox: an emulated Graph API on the same port (a
  // process of one role has no sandbox: its state would be its own).
  let listening = `http://127.0.0.1:${config.port}`;
  const sandboxChannel = config.channel || config.role !== 'all' ? null : sandboxChannelSettings(listening);
  const sandbox = sandboxChannel
    ? createSandboxState({
        appSecret: sandboxChannel.appSecret,
        accessToken: sandboxChannel.accessToken!,
        accountId: sandboxChannel.accountId!,
        appId: sandboxChannel.appId!,
        webhookUrl: () => `${listening}/webhooks/meta`,
        cdnUrl: () => `${listening}/sandbox/cdn`,
        now,
        sendRatePerSecond: config.sandboxRates.sendPerSecond,
        mediaRatePerSecond: config.sandboxRates.mediaPerSecond,
      })
    : undefined;
  const registry = new ChannelRegistry(store.db, box);
  await registry.load();
  const channelSettings = config.channel ?? sandboxChannel;
  if (channelSettings) await registry.applyEnvironment(environmentChannel(channelSettings));
  const channels = registry.list;
  if (config.redisUrl)
    log.warn(
      'REDIS_URL is set but igdm does not use Redis: shared state is kept in PostgreSQL (docs/postgres.md)',
    );

  // The ingest path stores webhooks; the projection applies them (service-store.ts).
  const parts = storeParts(opened, config, registry.routes(), log);
  const { writer, projection } = parts;
  writer.on('error', (err) => log.error({ err }, 'ingest worker error'));
  projection.on('error', (err) => log.error({ err }, 'projector error'));
  const metrics = new Metrics();
  projection.on('unapplied', (byReason) => {
    for (const [reason, n] of Object.entries(byReason)) metrics.unappliedEvents.inc({ reason }, n);
  });
  const health = await Health.load(store.db, log);
  const profiles = new Profiles({
    db: store.db,
    channels,
    health: (id) => health.of(id),
    log,
    now,
  });
  projection.on('applied', ({ conversations }) => profiles.touched(conversations));
  // Meta's rates and the channels' holds: in memory, or shared on PostgreSQL (send/limits.ts).
  const limits = await openLimits({ store, config, health, log, now, lifted: () => sender.wake() });
  const { limiter, conversationsApi } = limits;
  // Queue delays are operational time, not the policy clock (which tests may freeze).
  const queue = metrics.timedJobs(parts.queue);
  limiter.onWait = metrics.rateLimitWaited;
  conversationsApi.onWait = metrics.rateLimitWaited;
  // Replies the engine queues, handed to the sender in this process without a read back.
  const queuedHere = new QueuedHere();
  const sender = new Sender({
    conversationsApi,
    queuedHere,
    db: store.db,
    queue,
    relaxed: store.relaxed,
    channels,
    limiter,
    log,
    now,
    graphTimeoutMs: config.graphTimeoutMs,
    echoGraceMs: config.echoGraceMs,
    concurrency: config.sendConcurrency,
    health,
  });
  const engine = new Engine({
    db: store.relaxed,
    channels,
    automation,
    ai,
    log,
    now,
    jobs: queue,
    handoverAppId: config.handoverAppId,
    graphTimeoutMs: config.graphTimeoutMs,
    profiles,
    conversationsApi,
    // Decisions are durable: each goes out as a callback.
    approvals: new ApprovalAnswers({ db: store.db, jobs: queue, log, now }),
    queuedHere,
  });
  const expiry = new ApprovalExpiry({
    db: store.db,
    jobs: queue,
    log,
    now,
    everyMs: options.approvalSweepEveryMs,
  });
  projection.on('applied', () => {
    // The jobs the batch added (named: on PostgreSQL a worker hands over those it cannot take).
    queue.wake(ENGINE_QUEUE, MEDIA_QUEUE);
    sender.echoesArrived();
  });
  // What follows the channel list: the ingest worker's routes at once, and the sends held for a
  // token (a new one was set) or of a deleted channel (they fail) look again.
  registry.on('changed', (change) => {
    writer.setRoutes(registry.routes());
    if (change.type === 'updated' && change.tokenSet) health.tokenSet(change.channel.id);
    if (change.type !== 'created') sender.wake();
  });
  const handoverDeps = {
    db: store.db,
    channels,
    log,
    now,
    handoverAppId: config.handoverAppId,
    graphTimeoutMs: config.graphTimeoutMs,
  };
  const hub = new EventHub(store.db, log);
  await hub.start();
  // Keeps the channels' tokens alive (refreshes them before they expire) and tells their expiry.
  const tokens = new TokenKeeper({
    db: store.db,
    registry,
    log,
    now,
    health: (id) => health.of(id),
    recorded: () => hub.wake(),
    graphTimeoutMs: config.graphTimeoutMs,
    checkEveryMs: options.tokenCheckEveryMs,
  });
  projection.on('applied', () => hub.wake());
  // Outbound webhooks: deliveries made from the event log, and rules' webhooks, on a queue of their own.
  const dispatcher = new Dispatcher(store.db, queue, log, {
    keepMs: config.deliveryRetentionDays === null ? null : config.deliveryRetentionDays * 86_400_000,
  });
  projection.on('applied', () => dispatcher.wake());
  // A changed endpoint wakes the dispatcher where it runs (a `web` process leaves it to the leader,
  // which looks every 200 ms).
  const webhooks = new WebhookEndpoints({
    db: store.db,
    box,
    jobs: queue,
    dispatcher: runs.worker ? dispatcher : { endpointsChanged: () => {} },
  });
  const deliverer = new Deliverer({
    db: store.db,
    box,
    ruleWebhook: (name) => automation?.rules.find((r) => r.name === name)?.webhook,
    log,
  });
  const backfill = new Backfill({
    db: store.db,
    writer,
    channels,
    conversationsApi,
    log,
    health: (id) => health.of(id),
    now,
    graphTimeoutMs: config.graphTimeoutMs,
  });
  const keys = new ApiKeys(store.db, await apiKeyHash(store.db, config.apiKey, log));
  await keys.load();
  // A `web` process shows the health the workers' senders stored; one that sends, its own.
  const storedHealth = runs.worker ? null : new StoredHealth(store.db);
  await storedHealth?.load();
  // On PostgreSQL, a process that serves the API shows the token records the leader keeps.
  if (runs.web && store.kind === 'postgres') await tokens.load();
  const shownHealth = storedHealth?.of ?? ((id: string) => health.of(id));
  metrics.watch({ jobs: queue, channels, health: shownHealth });
  const notices = followChanges(config, log, {
    registry,
    keys: runs.web ? keys : null,
    tokens: runs.web ? tokens : null,
    health: storedHealth,
  });
  // The HTTP app; a `worker` process answers only health and metrics (api/worker-app.ts).
  const webDeps: AppDeps = {
    store,
    diskPath: parts.diskPath,
    writer,
    // A web process's readiness is storing webhooks: applying them (here too) is not in it, so that a
    // backlog does not take every web process out of the load balancer and refuse Meta's deliveries.
    projection: runs.worker ? projection : undefined,
    channels: registry,
    graphApiVersion: config.graphApiVersion,
    channelHealth: shownHealth,
    channelToken: (channel) => tokens.view(channel),
    backfill,
    keys,
    hub,
    webhooks,
    log,
    now,
    sandbox,
    queue,
    httpLimits: { requestTimeoutMs: config.requestTimeoutMs, maxConnections: config.maxConnections },
    minFreeDiskBytes: config.minFreeDiskBytes,
    handover: (conversationId, to) => handOverConversation(handoverDeps, conversationId, to),
    contactErased: (conversationIds) => profiles.forget(conversationIds),
    inboxDir: options.inboxDir,
    metrics,
    publicUrl: config.publicUrl,
    approvals: { db: store.db, jobs: queue, box },
  };
  const app = runs.web
    ? await buildApp(webDeps)
    : await buildWorkerApp({
        store,
        diskPath: parts.diskPath,
        projection,
        queue,
        minFreeDiskBytes: config.minFreeDiskBytes,
        metrics,
        log,
      });
  // Both threads answer before the first request comes (they load their code, open the store).
  if (!(await parts.started(WORKER_START_MS)))
    throw new Error('the ingest worker or the projector did not start');
  parts.start();
  await app.listen({ port: config.port, host: config.host });
  if (runs.worker) await sender.start();
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  listening = `http://127.0.0.1:${port}`;
  if (sandboxChannel) {
    // The port is known now (it may have been 0): point the sandbox channel at it.
    await registry.applyEnvironment(
      environmentChannel({ ...sandboxChannel, graphApiUrl: `${listening}/sandbox/graph` }),
    );
    log.info(
      { sandbox: `${listening}/sandbox` },
      'no Instagram credentials set: running the sandbox (an emulated Graph API with simulated customers); see README',
    );
  }

  if (runs.worker) {
    // Jobs wait for the store and the network more than for the CPU: at 8 at once, the slots were
    // what held replies up at 500 events/s (BENCHMARKS.md, e2e).
    queue.work(ENGINE_QUEUE, engine.handle, { concurrency: config.engineConcurrency });
    // A delivery mostly waits for its receiver (up to 15 s): many at once.
    queue.work(WEBHOOK_QUEUE, deliverer.handle, { concurrency: 16 });
    // Copies of inbound media, in the data folder (beside the embedded store).
    const keeper = new MediaKeeper({
      db: store.db,
      dir: join(dataDir, 'media'),
      maxFileBytes: config.mediaMaxFileBytes,
      maxTotalBytes: config.mediaMaxBytes,
      log,
    });
    queue.work(MEDIA_QUEUE, keeper.handle, { concurrency: 4 });
  }
  // The dispatcher, approval expiry, the token keeper and backfill: once per deployment.
  const periodic = new PeriodicTasks({ dispatcher, expiry, tokens, backfill, config, log });
  const leader = await runPeriodic(periodic, runs, config, log, {
    leaderRetryMs: options.leaderRetryMs,
    metrics: metrics.registry,
  });
  if (automation)
    log.info({ rules: automation.rules.length, ai: ai.name }, `automation loaded from ${config.configPath}`);

  return {
    app,
    store,
    writer,
    projection,
    url: `http://127.0.0.1:${port}`,
    sender,
    queuedHere,
    queue,
    engine,
    channels: registry,
    sandbox,
    backfill,
    async close() {
      await backfill.stop(); // a run in progress stops at its next call
      await app.close(); // stop accepting, finish in-flight requests
      await leader?.close(); // another process takes the periodic tasks over
      await tokens.stop();
      sender.stop(); // sends waiting for the rate limit or for Meta stop waiting
      await expiry.stop();
      await dispatcher.stop();
      // Finish the jobs running (a send in flight is recorded; a download or a delivery waiting on the
      // network stops waiting); the rest wait for the next start.
      await queue.close();
      await writer.close(); // finish the writes handed over
      await projection.close(); // apply what they stored (for a moment at most; the rest at the next start)
      await profiles.idle();
      await limits.close();
      metrics.close();
      await notices?.close();
      await store.close();
    },
  };
}
