import { createHmac } from 'node:crypto';
import type { Kysely } from 'kysely';
import { eventView } from '../events/view.ts';
import { RequestFailed, request } from '../http-client.ts';
import type { Logger } from '../log.ts';
import { type Job, RetryLater } from '../queue/queue.ts';
import { callbackSecretOf } from '../store/approvals.ts';
import { eventById } from '../store/events.ts';
import type { Database, DeliveryStatus } from '../store/schema.ts';
import type { SecretBox } from '../store/secret-box.ts';
import { cancelDelivery, type Delivery, getDelivery, recordAttempt } from '../store/webhook-deliveries.ts';
import { signingEndpoint } from '../store/webhook-endpoints.ts';
import { type DeliveryJob, retryDelayMs } from './jobs.ts';
import { signature } from './signing.ts';

// Makes a delivery's attempts (the WEBHOOK_QUEUE's handler): an endpoint's (an event of the log), a
// rule's `webhook` action's, or an approval's callback's. Each attempt POSTs the same body with
// the same webhook-id, a fresh webhook-timestamp and its signature; a 2xx answer delivers it. A
// failed attempt is tried again later (jobs.ts's delays) until the delivery's time runs out, then
// the delivery is failed; every attempt is recorded with what the receiver answered.

const TIMEOUT_MS = 15_000;
/** Receivers answer with a status; a longer body than this is not read. */
const MAX_ANSWER_BYTES = 256 * 1024;
/** How much of an answer the delivery log keeps. */
const KEEP_ANSWER_CHARS = 500;

export interface DelivererDeps {
  db: Kysely<Database>;
  box: SecretBox;
  /** A rule's `webhook` action as the configuration has it now. */
  ruleWebhook: (rule: string) => { url: string; secret?: string } | undefined;
  log: Logger;
  /** Operational time (retry delays), not the policy clock. */
  clock?: () => number;
}

interface Target {
  url: string;
  body: string;
  secrets: string[];
  headers: Record<string, string>;
}

export interface DeliveryOutcome {
  status: DeliveryStatus | 'gone';
  attempt?: number;
  answered?: number | null;
  reason?: string;
}

export class Deliverer {
  readonly #d: DelivererDeps;
  readonly #clock: () => number;

  constructor(deps: DelivererDeps) {
    this.#d = deps;
    this.#clock = deps.clock ?? Date.now;
  }

  /**
   * The WEBHOOK_QUEUE's handler. An attempt waiting for its receiver when the queue closes
   * (`stopping`) stops waiting: it is recorded as cut off, and the delivery is tried again at the
   * next start (the receiver may have it: the same webhook-id).
   */
  readonly handle = async (job: Job<DeliveryJob>, stopping: AbortSignal): Promise<DeliveryOutcome> => {
    const { db } = this.#d;
    const d = await getDelivery(db, job.payload.deliveryId);
    if (!d) return { status: 'gone' };
    if (d.status !== 'pending') return { status: d.status };
    const target = await this.#target(d);
    if (typeof target === 'string') {
      await cancelDelivery(db, d.id, target, this.#clock());
      return { status: 'cancelled', reason: target };
    }
    // Claimed as the queue closed: no attempt is made (nor recorded) now.
    if (stopping.aborted) throw new RetryLater(0, 'igdm is stopping');
    const attempt = d.attempts + 1;
    const at = this.#clock();
    const answer = await post(target, d.webhookId, Math.floor(at / 1000), stopping);
    const done = this.#clock();
    const ok = answer.status !== null && answer.status >= 200 && answer.status < 300;
    const expired = done >= d.retryUntil;
    const stopped = !ok && stopping.aborted;
    const wait =
      ok || expired ? null : stopped ? 0 : Math.max(0, Math.min(retryDelayMs(attempt), d.retryUntil - done));
    const status: DeliveryStatus = ok ? 'succeeded' : expired ? 'failed' : 'pending';
    await recordAttempt(
      db,
      d.id,
      {
        attempt,
        at,
        status: answer.status,
        error: answer.error,
        response: answer.text,
        durationMs: done - at,
      },
      { status, nextAttemptAt: wait === null ? null : done + wait },
    );
    if (wait !== null) {
      this.#d.log.info(
        {
          delivery: d.id,
          endpoint: d.endpointId,
          rule: d.rule,
          attempt,
          answered: answer.status,
          retryInMs: wait,
        },
        `webhook delivery failed (${answer.error}); trying again`,
      );
      throw new RetryLater(wait, `attempt ${attempt} failed: ${answer.error}`);
    }
    if (!ok)
      this.#d.log.warn(
        { delivery: d.id, endpoint: d.endpointId, rule: d.rule, attempts: attempt },
        `webhook delivery failed for good (${answer.error})`,
      );
    return { status, attempt, answered: answer.status, ...(answer.error && { reason: answer.error }) };
  };

  /** Where and what to send, or why it will not be sent. */
  async #target(d: Delivery): Promise<Target | string> {
    const { db, box } = this.#d;
    if (d.endpointId !== null) {
      const ep = await signingEndpoint(db, box, d.endpointId, this.#clock());
      if (!ep) return 'the endpoint was deleted';
      if (!ep.enabled) return 'the endpoint is disabled';
      const event = d.eventId === null ? null : await eventById(db, d.eventId);
      if (!event) return 'the event is no longer in the log';
      return { url: ep.url, body: JSON.stringify(eventView(event)), secrets: ep.secrets, headers: {} };
    }
    if (d.rule === null) {
      // An approval's callback (approvals/decide.ts): its body was made with the decision.
      const secret = await callbackSecretOf(db, box, d.id);
      if (!secret || d.url === null || d.body === null) return 'the approval is no longer there';
      return { url: d.url, body: d.body, secrets: [secret], headers: { 'x-igdm-delivery': d.webhookId } };
    }
    const rule = this.#d.ruleWebhook(d.rule);
    if (!rule?.url || d.body === null) return `rule "${d.rule}" no longer has a webhook in the configuration`;
    // The headers the README has documented for rule webhooks since before the standard ones.
    const headers: Record<string, string> = { 'x-igdm-delivery': d.webhookId };
    if (rule.secret)
      headers['x-igdm-signature'] =
        `sha256=${createHmac('sha256', rule.secret).update(d.body).digest('hex')}`;
    return { url: rule.url, body: d.body, secrets: rule.secret ? [rule.secret] : [], headers };
  }
}

interface Answered {
  status: number | null;
  error: string | null;
  text: string | null;
}

async function post(t: Target, id: string, timestamp: number, stopping: AbortSignal): Promise<Answered> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'igdm-webhooks',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    ...(t.secrets.length > 0 && { 'webhook-signature': signature(t.secrets, id, timestamp, t.body) }),
    ...t.headers,
  };
  try {
    const res = await request(t.url, {
      method: 'POST',
      headers,
      body: t.body,
      signal: AbortSignal.any([stopping, AbortSignal.timeout(TIMEOUT_MS)]),
      maxAnswerBytes: MAX_ANSWER_BYTES,
    });
    const ok = res.status >= 200 && res.status < 300;
    return {
      status: res.status,
      error: ok ? null : `HTTP ${res.status}`,
      text: res.text.slice(0, KEEP_ANSWER_CHARS),
    };
  } catch (err) {
    if (!(err instanceof RequestFailed)) throw err;
    return {
      status: null,
      error: stopping.aborted
        ? 'igdm stopped before the answer came'
        : err.failure === 'timeout'
          ? `no answer within ${TIMEOUT_MS / 1000} s`
          : err.message,
      text: null,
    };
  }
}
