import { Gauge, type Registry } from 'prom-client';
import type { ApiKeys } from './api/auth.ts';
import type { ApprovalExpiry } from './approvals/expiry.ts';
import type { Backfill } from './backfill/backfill.ts';
import type { ChannelRegistry } from './channels/registry.ts';
import type { TokenKeeper } from './channels/token-keeper.ts';
import { Leader } from './cluster/leader.ts';
import { ChangeNotices } from './cluster/notices.ts';
import type { StoredHealth } from './cluster/stored-health.ts';
import type { Config, Role } from './config.ts';
import type { Dispatcher } from './deliveries/dispatcher.ts';
import type { Logger } from './log.ts';

// What a process runs, by its role (IGDM_ROLE; docs/postgres.md, Roles): `web` the HTTP app (it
// stores webhooks, applies them and adds jobs), `worker` the queue's workers, the periodic tasks and
// the projection as the web processes' fallback (service-store.ts), `all` both (the embedded
// store's only role). On PostgreSQL the periodic tasks run in one
// process of the deployment, the leader, and every process follows the changes others make.

export interface Runs {
  /** The HTTP app: webhooks (stored and applied), the API, the event stream, the inbox. */
  web: boolean;
  /** The engine, the sender, deliveries, media and the periodic tasks (and applying, as a fallback). */
  worker: boolean;
}

export const runsOf = (role: Role): Runs => ({ web: role !== 'worker', worker: role !== 'web' });

/**
 * The tasks that must run once per deployment: the outbound webhooks' dispatcher (and its pruning),
 * approval expiry, the token keeper, and backfill (at start and on its schedule). Started and
 * stopped one after the other, as leadership comes and goes.
 */
export interface PeriodicDeps {
  dispatcher: Dispatcher;
  expiry: ApprovalExpiry;
  tokens: TokenKeeper;
  backfill: Backfill;
  config: Config;
  log: Logger;
}

export class PeriodicTasks {
  readonly #d: PeriodicDeps;
  #turn: Promise<void> = Promise.resolve();

  constructor(deps: PeriodicDeps) {
    this.#d = deps;
  }

  start(): Promise<void> {
    return this.#serial(async () => {
      const { dispatcher, expiry, tokens, backfill, config, log } = this.#d;
      dispatcher.start();
      expiry.start();
      await tokens.start();
      // What Meta could not deliver while igdm was down: read back in the background, at 2 calls/s.
      if (config.backfill.onStart)
        void backfill.onStart().catch((err: unknown) => log.error({ err }, 'backfill at start failed'));
      backfill.schedule(config.backfill.intervalMinutes);
    });
  }

  stop(): Promise<void> {
    return this.#serial(async () => {
      const { dispatcher, expiry, tokens, backfill } = this.#d;
      backfill.schedule(0); // a run under way ends by itself; what it reads twice is stored once
      await tokens.stop();
      await expiry.stop();
      await dispatcher.stop();
    });
  }

  #serial(task: () => Promise<void>): Promise<void> {
    const run = this.#turn.then(task);
    this.#turn = run.catch(() => {});
    return run;
  }
}

/**
 * Runs the periodic tasks where they belong: in this process on the embedded store (one process);
 * on PostgreSQL, in a process with workers while it is the leader. Resolves after the first try.
 */
export async function runPeriodic(
  periodic: PeriodicTasks,
  runs: Runs,
  config: Config,
  log: Logger,
  options: { leaderRetryMs?: number; metrics?: Registry } = {},
): Promise<Leader | null> {
  if (!runs.worker) return null;
  if (!/^postgres(ql)?:/.test(config.databaseUrl)) {
    await periodic.start();
    return null;
  }
  const leader = new Leader({
    connection: config.databaseUrl,
    lead: () => periodic.start(),
    yieldLead: () => periodic.stop(),
    retryMs: options.leaderRetryMs,
    log,
  });
  if (options.metrics)
    new Gauge({
      name: 'igdm_leader',
      help: '1 while this process is the leader that runs the periodic tasks (PostgreSQL), else 0.',
      registers: [options.metrics],
      collect() {
        this.set(leader.leading ? 1 : 0);
      },
    });
  await leader.start();
  return leader;
}

/**
 * On PostgreSQL, what other processes change reaches this one (cluster/notices.ts): the channel
 * list (the sender, the ingest routes, the API), and where this process serves the API, the API
 * keys, the token records and the channels' stored health.
 */
export function followChanges(
  config: Config,
  log: Logger,
  parts: {
    registry: ChannelRegistry;
    keys: ApiKeys | null;
    tokens: TokenKeeper | null;
    health: StoredHealth | null;
  },
): ChangeNotices | null {
  if (!/^postgres(ql)?:/.test(config.databaseUrl)) return null;
  const notices = new ChangeNotices(config.databaseUrl, log);
  const { registry, keys, tokens, health } = parts;
  notices.follow('channels', () => registry.refresh());
  if (health) notices.follow('channels', () => health.load());
  if (keys) notices.follow('api_keys', () => keys.load());
  if (tokens) notices.follow('channel_tokens', () => tokens.load());
  return notices;
}
