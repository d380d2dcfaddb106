import { request } from '../http-client.ts';
import { sign } from '../meta/signature.ts';
import { Journal } from './journal.ts';
import { metaJson } from './wire.ts';

// Webhook delivery to the gateway, as Meta does it: the body serialised with Meta's escaping,
// signed with the app secret (X-Hub-Signature-256, and the legacy sha1 header), POSTed as JSON.
// Customer messages are delivered while the caller waits; echoes are delivered in the background.

export const DELIVERY_TIMEOUT_MS = 20_000;

export type DeliveryKind = 'customer' | 'echo';

export interface DeliveryResult {
  /** The gateway's HTTP status; 0 when it could not be reached. */
  status: number;
  /** The start of the gateway's answer. */
  body?: string;
  /** Why it was not delivered (network error, timeout). */
  error?: string;
}

export interface DeliveryRecord extends DeliveryResult {
  time: number;
  kind: DeliveryKind;
  url: string;
  /** The exact bytes POSTed. */
  payload: string;
}

export class WebhookDelivery {
  readonly log = new Journal<DeliveryRecord>(500);
  readonly #secret: string;
  readonly #url: () => string;
  readonly #now: () => number;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #inFlight = new Map<Promise<unknown>, AbortController>();
  #closed = false;
  /**
   * A simulated outage: igdm's endpoint is unreachable, so nothing is delivered (each webhook is
   * recorded as failed) while the sandbox still remembers the messages, as Meta does: the
   * Conversations API shows them, and a backfill can read them back (src/backfill/).
   */
  down = false;

  constructor(opts: { appSecret: string; webhookUrl: () => string; now: () => number }) {
    this.#secret = opts.appSecret;
    this.#url = opts.webhookUrl;
    this.#now = opts.now;
  }

  /** Signs and POSTs `body`; never throws (a failure is in the result). */
  async deliver(kind: DeliveryKind, body: unknown): Promise<DeliveryResult> {
    const payload = metaJson(body);
    const time = this.#now();
    let url: string;
    try {
      url = this.#url();
    } catch (err) {
      return this.#record(
        { status: 0, error: `no webhook URL: ${(err as Error).message}` },
        kind,
        '',
        payload,
        time,
      );
    }
    if (this.#closed) return this.#record({ status: 0, error: 'sandbox closed' }, kind, url, payload, time);
    if (this.down)
      return this.#record(
        { status: 0, error: 'outage (simulated): igdm is unreachable' },
        kind,
        url,
        payload,
        time,
      );
    const abort = new AbortController();
    const timeout = setTimeout(() => abort.abort(new Error('timed out')), DELIVERY_TIMEOUT_MS);
    const attempt = request(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'facebookexternalua',
        'x-hub-signature-256': sign(payload, this.#secret, 'sha256'),
        'x-hub-signature': sign(payload, this.#secret, 'sha1'),
      },
      body: payload,
      signal: abort.signal,
    }).then(
      (res): DeliveryResult => ({ status: res.status, body: res.text.slice(0, 500) }),
      (err: unknown): DeliveryResult => ({ status: 0, error: reason(err, abort.signal) }),
    );
    this.#inFlight.set(attempt, abort);
    try {
      return this.#record(await attempt, kind, url, payload, time);
    } finally {
      clearTimeout(timeout);
      this.#inFlight.delete(attempt);
    }
  }

  /** Delivers in the background, after the current answer has gone out (as Meta sends echoes). */
  later(kind: DeliveryKind, body: unknown, delayMs = 0): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.deliver(kind, body);
    }, delayMs);
    this.#timers.add(timer);
  }

  /** Resolves when no delivery is scheduled or in flight. */
  async settled(): Promise<void> {
    while (this.#timers.size > 0 || this.#inFlight.size > 0) {
      await Promise.all([...this.#inFlight.keys()]);
      if (this.#timers.size > 0) await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** Cancels scheduled deliveries and aborts those in flight. */
  close(): void {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const abort of this.#inFlight.values()) abort.abort(new Error('sandbox closed'));
  }

  #record(
    result: DeliveryResult,
    kind: DeliveryKind,
    url: string,
    payload: string,
    time: number,
  ): DeliveryResult {
    this.log.add({ time, kind, url, payload, ...result });
    return result;
  }
}

function reason(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) return String((signal.reason as Error)?.message ?? 'aborted');
  const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
  return e.code ?? e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
