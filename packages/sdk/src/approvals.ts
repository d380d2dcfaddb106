import type { PageOptions } from './conversations.ts';
import { IgdmError } from './errors.ts';
import type { Events, Subscription } from './events.ts';
import { pages } from './pages.ts';
import { seg, type Transport } from './transport.ts';
import type { Page } from './types.ts';

// Approvals: igdm asks a person (the approver, by IGSID) to approve or reject something over an
// Instagram DM with two quick replies, and reports the decision (GET, the event stream's
// `approval.decided`, and a signed POST to the approval's callbackUrl). `wait` follows one until it
// is decided.

export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'expired' | 'cancelled';

/** visible: in the DM; masked: `••••••••` in the DM, kept encrypted; concealed: not sent, not kept. */
export type FieldDisplay = 'visible' | 'masked' | 'concealed';

export interface ApprovalField {
  label: string;
  display: FieldDisplay;
  /** null when concealed (never kept), and when masked for keys that are not admin keys (and in events). */
  value: string | null;
}

/** The POST of the decision to the approval's callbackUrl. */
export interface ApprovalCallback {
  /** The delivery's id (its webhook-id header): the same on every attempt; receivers deduplicate on it. */
  deliveryId: string;
  /** failed: the receiver did not take it within 24 hours of retries. */
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  lastError: string | null;
}

export interface Approval {
  /** apr_… */
  id: string;
  channelId: string;
  conversationId: string;
  /** The approver's IGSID: only their answer counts. */
  approver: string;
  title: string;
  fields: ApprovalField[];
  status: ApprovalStatus;
  /** true: approved; false: rejected; null otherwise. */
  approved: boolean | null;
  /** Who answered (the approver's IGSID); null until they do. */
  respondedBy: string | null;
  respondedAt: string | null;
  /** When it left `pending` (an answer, its expiry or a cancellation). */
  decidedAt: string | null;
  expiresAt: string;
  createdAt: string;
  metadata: Record<string, unknown>;
  callbackUrl: string | null;
  /** The decision's POST to callbackUrl; null before the decision, or without a callbackUrl. */
  callback: ApprovalCallback | null;
  /** The approval's DM in the thread (a Message with `approvalId`). */
  messageId: string | null;
  /** Labels (or "title") whose values igdm shortened for the DM to fit Meta's 1000 bytes. */
  shortened: string[];
}

export interface NewApproval {
  /** Default `default`. */
  channelId?: string;
  /** The IGSID of the person who decides: they must have written within the last 24 hours. */
  approver: string;
  title: string;
  /** Shown in the DM in this order; a visible value that is null shows as "—". */
  fields: { label: string; value?: string | number | boolean | null; display?: FieldDisplay }[];
  /** Where igdm POSTs the decision, signed (check it with verifyWebhook and the callback's secret). */
  callbackUrl?: string;
  /** The `whsec_…` secret that signs the callback; without it igdm makes one and answers it once. */
  callbackSecret?: string;
  /** After this (60 s to 30 days), a pending approval is `expired`. */
  expiresInSeconds: number;
  /** Your own: given back on the approval, its events and its callback. */
  metadata?: Record<string, unknown>;
}

/** A new approval: with a callbackUrl and no callbackSecret, the secret igdm made (shown this once). */
export interface ApprovalCreated extends Approval {
  callbackSecret?: string;
}

/**
 * What igdm POSTs to an approval's callbackUrl once it is decided (check it with verifyWebhook and
 * the callback's secret; its webhook-id is the same on every attempt).
 */
export interface ApprovalDecision {
  type: 'approval.decided';
  approvalId: string;
  /** approved, rejected, expired or cancelled. */
  status: Exclude<ApprovalStatus, 'pending'>;
  approved: boolean | null;
  respondedBy: string | null;
  respondedAt: string | null;
  decidedAt: string;
  metadata: Record<string, unknown>;
}

export interface ApprovalFilter extends PageOptions {
  status?: ApprovalStatus;
  channelId?: string;
  conversationId?: string;
}

export interface WaitOptions {
  /** Give up after this long (rejects with ApprovalTimeoutError); default: until it is decided or expires. */
  timeoutMs?: number;
  /** Abort the wait: it rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** `approvals.wait` gave up: the approval was still pending after `timeoutMs`. */
export class ApprovalTimeoutError extends Error {
  override readonly name = 'ApprovalTimeoutError';
  readonly approvalId: string;
  readonly timeoutMs: number;
  constructor(approvalId: string, timeoutMs: number) {
    super(`approval ${approvalId} is still pending after ${timeoutMs} ms`);
    this.approvalId = approvalId;
    this.timeoutMs = timeoutMs;
  }
}

/** A refusal (a 4xx: gone, a revoked key): waiting longer would not change it. */
const refusal = (err: unknown) => err instanceof IgdmError && err.status < 500;

export class Approvals {
  readonly #t: Transport;
  readonly #events: Events;
  constructor(t: Transport, events: Events) {
    this.#t = t;
    this.#events = events;
  }

  /**
   * Sends the approval's DM to the approver and answers it, pending (201). Throws IgdmError 422
   * `outside_window` when the approver has not written within 24 hours (nothing is sent).
   */
  create(request: NewApproval): Promise<ApprovalCreated> {
    return this.#t.request({ method: 'POST', path: '/v1/approvals', body: request });
  }

  get(id: string, options: { signal?: AbortSignal } = {}): Promise<Approval> {
    return this.#t.request({ method: 'GET', path: `/v1/approvals/${seg(id)}`, ...options });
  }

  /** One page, newest first. */
  list(filter: ApprovalFilter = {}): Promise<Page<Approval>> {
    return this.#t.request({ method: 'GET', path: '/v1/approvals', query: { ...filter } });
  }

  /** Every approval the filter matches, page after page. */
  listAll(filter: Omit<ApprovalFilter, 'cursor'> = {}): AsyncGenerator<Approval> {
    return pages((cursor) => this.list({ ...filter, cursor }));
  }

  /** A pending approval, cancelled (its answer then changes nothing); 409 `approval_decided` otherwise. */
  cancel(id: string): Promise<Approval> {
    return this.#t.request({ method: 'POST', path: `/v1/approvals/${seg(id)}/cancel`, body: {} });
  }

  /**
   * Resolves with the approval once it is no longer pending (approved, rejected, expired or
   * cancelled), as `get` answers it. It reads the approval, then follows the event stream for its
   * `approval.decided`, reading it again each time the stream (re)connects so that a decision made
   * meanwhile is not missed. Rejects with ApprovalTimeoutError after `timeoutMs`, with the signal's
   * reason when aborted, and with the IgdmError of a refusal (404 `approval_not_found`, a revoked
   * key). Its connections are closed before it settles.
   */
  wait(id: string, options: WaitOptions = {}): Promise<Approval> {
    const { timeoutMs, signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Approval>((resolve, reject) => {
      const stop = new AbortController();
      let sub: Subscription | null = null;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = () => finish(() => reject(signal!.reason));
      const finish = (settle: () => void) => {
        if (stop.signal.aborted) return;
        stop.abort();
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        sub?.close();
        void (sub?.done ?? Promise.resolve()).then(settle);
      };
      /** Reads it again (the stream has just connected): settles when it is decided, or refused. */
      const check = () =>
        this.get(id, { signal: stop.signal }).then(
          (a) => {
            if (a.status !== 'pending') finish(() => resolve(a));
          },
          (err: unknown) => {
            // A network failure: the stream's next connection reads it again.
            if (refusal(err)) finish(() => reject(err));
          },
        );
      signal?.addEventListener('abort', onAbort);
      if (timeoutMs !== undefined)
        timer = setTimeout(() => finish(() => reject(new ApprovalTimeoutError(id, timeoutMs))), timeoutMs);
      this.get(id, { signal: stop.signal }).then(
        (first) => {
          if (stop.signal.aborted) return;
          if (first.status !== 'pending') return finish(() => resolve(first));
          sub = this.#events.subscribe(
            {
              types: ['approval.decided'],
              channelId: first.channelId,
              onConnect: () => void check(),
              onError: (err) => {
                if (refusal(err)) finish(() => reject(err));
              },
            },
            (e) => {
              const decided = (e.data as { approval?: Approval }).approval;
              if (decided?.id !== id) return;
              // The stream's copy has masked values null: answer the approval as `get` does.
              void this.get(id, { signal: stop.signal }).then(
                (a) => finish(() => resolve(a)),
                () => finish(() => resolve(decided)),
              );
            },
          );
        },
        (err: unknown) => finish(() => reject(err)),
      );
    });
  }
}
