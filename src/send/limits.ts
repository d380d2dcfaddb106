import type { Config } from '../config.ts';
import { CONVERSATIONS_API_LIMITS, type Limiter, RateLimiter } from '../graph/rate-limit.ts';
import { IN_FLIGHT_MARGIN_MS, SharedRateLimiter } from '../graph/shared-rate-limit.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/index.ts';
import type { Health } from './channel-health.ts';
import { SharedHolds } from './shared-holds.ts';

// The limits a process keeps to: Meta's rates (sends, and the Conversations API's 2 calls/s per
// account) and each channel's holds. The embedded store has one process: all of it in memory, as
// before. On PostgreSQL any number of processes send for the same accounts: the rate windows are rows
// (graph/shared-rate-limit.ts) and the holds are shared (shared-holds.ts). docs/postgres.md, "Shared limits".

export interface Limits {
  /** The Send API's. */
  limiter: Limiter;
  /** Meta's Conversations API: 2 calls/s per account, whoever in igdm makes them. */
  conversationsApi: Limiter;
  /** Writes what is still being written (places settled, holds shared) and stops listening. */
  close(): Promise<void>;
}

export async function openLimits(o: {
  store: Store;
  config: Config;
  health: Health;
  log: Logger;
  now: () => number;
  /** A hold another process lifted (a new token): the waiting sends look again. */
  lifted: () => void;
}): Promise<Limits> {
  const { store, config, log } = o;
  if (store.kind !== 'postgres') {
    return {
      limiter: new RateLimiter(config.rateLimits),
      conversationsApi: new RateLimiter(CONVERSATIONS_API_LIMITS),
      close: async () => {},
    };
  }
  const inFlightMs = config.graphTimeoutMs + IN_FLIGHT_MARGIN_MS;
  const limiter = new SharedRateLimiter(store.db, config.rateLimits, { namespace: 'send', inFlightMs, log });
  const conversationsApi = new SharedRateLimiter(store.db, CONVERSATIONS_API_LIMITS, {
    namespace: 'conversations',
    inFlightMs,
    log,
  });
  const holds = await SharedHolds.start({
    db: store.db,
    connection: config.databaseUrl,
    health: o.health,
    log,
    now: o.now,
    lifted: o.lifted,
  });
  return {
    limiter,
    conversationsApi,
    async close() {
      await Promise.all([limiter.settled(), conversationsApi.settled()]);
      await holds.close();
    },
  };
}
