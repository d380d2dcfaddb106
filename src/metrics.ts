import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { GRAPH_CALLS, type GraphCall } from './graph/client.ts';
import type { RateLimitWait } from './graph/rate-limit.ts';
import type { JobAdmin, JobHandler, WorkQueue } from './queue/queue.ts';
import { RetryLater } from './queue/queue.ts';
import type { Channel } from './store/channels.ts';
import type { ChannelHealth } from './store/schema.ts';

// igdm's Prometheus metrics (GET /metrics, api/metrics.ts): the process's own (prom-client's
// defaults) and what igdm counts: webhooks received and refused, how long an acknowledgement takes,
// the queues' depth and lag, how long jobs and sends take, Graph API errors by class, rate-limit
// waits and each channel's health. One registry per service, so that services in one process
// (tests) do not add to each other's counts: Graph calls, which any part of igdm makes, are counted
// only for this service's own channels. The process's own metrics are collected once per process.

const HEALTH_STATES: readonly ChannelHealth[] = ['ok', 'throttled', 'needs_token', 'paused'];
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** What the metrics read at each scrape. */
export interface MetricSources {
  jobs: Pick<JobAdmin, 'stats'>;
  channels: () => readonly Channel[];
  health: (channelId: string) => ChannelHealth;
}

/**
 * The process's own metrics (prom-client's defaults: CPU, memory, event loop, GC), collected once per
 * process however many services it runs (tests run many): each collection keeps a timer and a GC
 * observer running for good.
 */
let processRegistry: Registry | null = null;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class Metrics {
  /** This service's metrics (the process's own are added by exposition()). */
  readonly registry = new Registry();
  /** Stored webhook events that could not be applied, by reason (GET /v1/webhook-events lists them). */
  readonly unappliedEvents: Counter<'reason'>;
  readonly webhooksReceived: Counter;
  readonly webhooksRefused: Counter<'reason'>;
  /** From the request's arrival to its acknowledgement (the events on disk). */
  readonly ingestSeconds: Histogram;
  readonly #jobSeconds: Histogram<'queue' | 'outcome'>;
  readonly #graphSeconds: Histogram<'channel' | 'operation'>;
  readonly #graphErrors: Counter<'channel' | 'operation' | 'class' | 'reason'>;
  readonly #rateLimitWaits: Counter<'channel' | 'kind' | 'postponed'>;
  readonly #rateLimitWaitSeconds: Counter<'channel' | 'kind'>;
  #sources: MetricSources | null = null;
  /** The queues worked in this process: shown even while they hold no job. */
  readonly #queues = new Set<string>();
  readonly #onGraphCall = (message: unknown) => this.#graphCall(message as GraphCall);

  constructor() {
    const registers = [this.registry];
    this.unappliedEvents = new Counter({
      name: 'igdm_webhook_events_unapplied_total',
      help: 'Stored webhook events igdm could not apply, by reason (see GET /v1/webhook-events?status=unapplied).',
      labelNames: ['reason'],
      registers,
    });
    this.webhooksReceived = new Counter({
      name: 'igdm_webhooks_received_total',
      help: 'Webhook deliveries that reached igdm (POST /webhooks/...), refused or not.',
      registers,
    });
    this.webhooksRefused = new Counter({
      name: 'igdm_webhooks_refused_total',
      help: 'Webhook deliveries refused, by reason (the error code answered: signature_invalid, store_unavailable ...).',
      labelNames: ['reason'],
      registers,
    });
    this.ingestSeconds = new Histogram({
      name: 'igdm_ingest_duration_seconds',
      help: 'From a webhook delivery arriving to its acknowledgement, its events on disk.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.#jobSeconds = new Histogram({
      name: 'igdm_job_duration_seconds',
      help: 'How long a job ran, by queue and outcome (done, later: not ready yet, failed).',
      labelNames: ['queue', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#graphSeconds = new Histogram({
      name: 'igdm_graph_request_duration_seconds',
      help: 'Graph API calls by channel and operation (send: the Send API), answered or not.',
      labelNames: ['channel', 'operation'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#graphErrors = new Counter({
      name: 'igdm_graph_errors_total',
      help: 'Failed Graph API calls by channel, operation and class (retry, throttle, reauthorize, pause, give_up, ambiguous), with the reason.',
      labelNames: ['channel', 'operation', 'class', 'reason'],
      registers,
    });
    this.#rateLimitWaits = new Counter({
      name: 'igdm_rate_limit_waits_total',
      help: 'Calls that waited for the rate limit, by channel and kind; postponed: the send went back to the outbox (a wait over a second).',
      labelNames: ['channel', 'kind', 'postponed'],
      registers,
    });
    this.#rateLimitWaitSeconds = new Counter({
      name: 'igdm_rate_limit_wait_seconds_total',
      help: 'Time calls were told to wait for the rate limit, by channel and kind.',
      labelNames: ['channel', 'kind'],
      registers,
    });
  }

  /** GET /metrics: this service's metrics and the process's, in Prometheus' text format. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    const all = Registry.merge([this.registry, processMetrics()]);
    return { contentType: all.contentType, text: await all.metrics() };
  }

  /** Reads the queues and channels at each scrape, and counts this service's Graph calls. */
  watch(sources: MetricSources): void {
    this.#sources = sources;
    subscribe(GRAPH_CALLS, this.#onGraphCall);
    const depth = new Gauge({
      name: 'igdm_queue_jobs',
      help: 'Jobs by queue and status (ready includes jobs waiting for a later time; done jobs are kept for GET /v1/jobs).',
      labelNames: ['queue', 'status'],
      registers: [this.registry],
    });
    const lag = new Gauge({
      name: 'igdm_queue_lag_seconds',
      help: 'How long the oldest job that is due has waited to run, by queue (0: none waits).',
      labelNames: ['queue'],
      registers: [this.registry],
    });
    // One read of the queue for both gauges: prom-client collects them one after the other.
    let reading: Promise<void> | null = null;
    const readQueue = () => {
      reading ??= (async () => {
        const now = Date.now();
        const stats = await sources.jobs.stats(now);
        depth.reset();
        lag.reset();
        for (const queue of this.#queues) {
          for (const status of ['ready', 'active', 'dead']) depth.set({ queue, status }, 0);
          lag.set({ queue }, 0);
        }
        for (const s of stats) {
          for (const [status, n] of Object.entries(s.counts)) depth.set({ queue: s.queue, status }, n);
          lag.set({ queue: s.queue }, s.oldestDueAt === null ? 0 : Math.max(0, now - s.oldestDueAt) / 1000);
        }
      })().finally(() => {
        reading = null;
      });
      return reading;
    };
    Object.assign(depth, { collect: readQueue });
    Object.assign(lag, { collect: readQueue });
    new Gauge({
      name: 'igdm_channel_health',
      help: "Each channel's health: 1 for its state (ok, throttled, needs_token, paused), 0 for the others.",
      labelNames: ['channel', 'status'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of sources.channels()) {
          const now = sources.health(c.id);
          for (const status of HEALTH_STATES) this.set({ channel: c.id, status }, status === now ? 1 : 0);
        }
      },
    });
  }

  /** `queue`, with every handler given to work() timed into igdm_job_duration_seconds. */
  timedJobs<Q extends WorkQueue>(queue: Q): Q {
    const timed = this.timed.bind(this);
    const queues = this.#queues;
    return new Proxy(queue, {
      get(target, prop) {
        if (prop === 'work')
          return (name: string, handler: JobHandler, options?: { concurrency?: number }) => {
            queues.add(name);
            target.work(name, timed(name, handler), options);
          };
        const value = Reflect.get(target, prop, target);
        // Bound: the queue's methods use private fields, which a proxy as `this` does not have.
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /** `handler`, timed into igdm_job_duration_seconds. */
  timed<P>(queue: string, handler: JobHandler<P>): JobHandler<P> {
    return async (job, stopping) => {
      const end = this.#jobSeconds.startTimer({ queue });
      try {
        const result = await handler(job, stopping);
        end({ outcome: 'done' });
        return result;
      } catch (err) {
        end({ outcome: err instanceof RetryLater ? 'later' : 'failed' });
        throw err;
      }
    };
  }

  /** A call that had to wait for the rate limit (graph/rate-limit.ts). */
  readonly rateLimitWaited = (w: RateLimitWait): void => {
    const channel = this.#channelOf(w.account);
    this.#rateLimitWaits.inc({ channel, kind: w.kind, postponed: String(w.postponed) });
    this.#rateLimitWaitSeconds.inc({ channel, kind: w.kind }, w.ms / 1000);
  };

  /** Stops following Graph calls (the service closes). */
  close(): void {
    unsubscribe(GRAPH_CALLS, this.#onGraphCall);
  }

  #graphCall(call: GraphCall): void {
    // Another service's channel (tests run several in one process) is not ours to count. The target
    // may be a copy of the channel (with a token being tried, say): matched by what it calls.
    const t = call.target;
    const channel = this.#sources
      ?.channels()
      .find((c) => c === t || (c.graphApiUrl === t.graphApiUrl && c.accountId === t.accountId));
    if (!channel) return;
    const labels = { channel: channel.id, operation: call.operation };
    this.#graphSeconds.observe(labels, call.ms / 1000);
    if (call.failure) {
      this.#graphErrors.inc({ ...labels, class: call.failure.action, reason: call.failure.reason });
    }
  }

  #channelOf(account: string): string {
    const c = this.#sources?.channels().find((ch) => (ch.accountId ?? ch.id) === account);
    return c?.id ?? account;
  }
}
