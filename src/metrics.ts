import { Counter, collectDefaultMetrics, Registry } from 'prom-client';

// igdm's Prometheus metrics (GET /metrics, api/metrics.ts): the process's own (prom-client's
// defaults) and what igdm counts. One registry per service, so that services in one process (tests)
// do not add to each other's counts.

export class Metrics {
  readonly registry = new Registry();
  /** Stored webhook events that could not be applied, by reason (GET /v1/webhook-events lists them). */
  readonly unappliedEvents: Counter<'reason'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.unappliedEvents = new Counter({
      name: 'igdm_webhook_events_unapplied_total',
      help: 'Stored webhook events igdm could not apply, by reason (see GET /v1/webhook-events?status=unapplied).',
      labelNames: ['reason'],
      registers: [this.registry],
    });
  }
}
