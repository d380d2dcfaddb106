import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import {
  type GraphAnswer,
  outsideWindow,
  policyBlock,
  throttled,
  tokenExpired,
  transientError,
} from './errors.ts';
import { businessUsageHeader } from './rate-limit.ts';

// Failure injection: "the next n Graph calls (optionally only those to one edge, such as messages)
// fail this way". Each kind is answered the way Meta (or the network) fails. The first kinds fail
// the call itself; those of AFTER_DELIVERY let it do what it asks (a message is sent, its echo is on
// its way) and lose or spoil only the answer (answer-faults.ts).

export const AFTER_DELIVERY_KINDS = ['late_answer', 'garbled_answer', 'huge_answer', 'cut_answer'] as const;
export const FAILURE_KINDS = [
  '5xx',
  'timeout',
  'throttle',
  'token_expired',
  'outside_window',
  'policy_block',
  'network_reset',
  ...AFTER_DELIVERY_KINDS,
] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];
export const isAfterDelivery = (kind: FailureKind): boolean =>
  (AFTER_DELIVERY_KINDS as readonly string[]).includes(kind);

export const FailureRequest = z.strictObject({
  kind: z.enum(FAILURE_KINDS),
  count: z.number().int().min(1).max(100_000).default(1),
  /** Only calls to this edge (messages, messenger_profile, subscribed_apps, ...; "node" for GET /{id}). */
  path: z
    .string()
    .regex(/^[a-z_]+$/, 'must be an edge name such as "messages"')
    .optional(),
  /** 5xx: the HTTP status (500-599, default 500). */
  status: z.number().int().min(500).max(599).optional(),
  /** 5xx: answer with no body at all, as Meta's front ends sometimes do. */
  empty: z.boolean().optional(),
  /** throttle: `estimated_time_to_regain_access` in minutes (default 1). */
  regainAccessMinutes: z.number().int().min(0).max(1440).optional(),
  /** late_answer: how long after the call the answer comes (default: the timeout hold, 30 s). */
  delayMs: z.number().int().min(0).max(600_000).optional(),
  /** garbled_answer: an empty body, JSON cut in the middle, or an HTML page (default truncated). */
  garble: z.enum(['empty', 'truncated', 'html']).optional(),
  /** huge_answer: the answer's length in bytes (default 64 MiB). */
  sizeBytes: z
    .number()
    .int()
    .min(1)
    .max(2 ** 31)
    .optional(),
  /** After-delivery kinds: false loses the message's echo webhook too (default true). */
  echo: z.boolean().optional(),
});
export type FailureRequest = z.input<typeof FailureRequest>;

export interface PendingFailure {
  id: number;
  kind: FailureKind;
  remaining: number;
  path: string | null;
  status?: number;
  empty?: boolean;
  regainAccessMinutes?: number;
  delayMs?: number;
  garble?: 'empty' | 'truncated' | 'html';
  sizeBytes?: number;
  echo?: boolean;
}

export class FailureQueue {
  #items: PendingFailure[] = [];
  #next = 1;

  add(request: z.output<typeof FailureRequest>): PendingFailure {
    const { count, path, ...rest } = request;
    const failure: PendingFailure = { id: this.#next++, ...rest, remaining: count, path: path ?? null };
    this.#items.push(failure);
    return { ...failure };
  }

  /** The failure the next call to `edge` gets (the oldest that applies), counted down; or null. */
  take(edge: string): PendingFailure | null {
    const i = this.#items.findIndex((f) => f.path === null || f.path === edge);
    if (i < 0) return null;
    const failure = this.#items[i]!;
    failure.remaining -= 1;
    if (failure.remaining <= 0) this.#items.splice(i, 1);
    return { ...failure };
  }

  list(): PendingFailure[] {
    return this.#items.map((f) => ({ ...f }));
  }

  clear(): number {
    const n = this.#items.length;
    this.#items = [];
    return n;
  }
}

/** The answer of an injected failure, or what to do to the connection instead. */
export function failureAnswer(
  failure: PendingFailure,
  ctx: { accountId: string; now: number },
): GraphAnswer | 'timeout' | 'network_reset' {
  switch (failure.kind) {
    case '5xx':
      return failure.empty ? { status: failure.status ?? 500 } : transientError(failure.status ?? 500);
    case 'throttle':
      return throttled({
        'x-business-use-case-usage': businessUsageHeader(
          ctx.accountId,
          100,
          failure.regainAccessMinutes ?? 1,
        ),
      });
    case 'token_expired':
      return tokenExpired(ctx.now);
    case 'outside_window':
      return outsideWindow();
    case 'policy_block':
      return policyBlock();
    case 'timeout':
    case 'network_reset':
      return failure.kind;
    default:
      throw new Error(`${failure.kind} fails after delivery: see answer-faults.ts`);
  }
}

/**
 * Requests held open to simulate a Graph API that does not answer. Each is answered after `holdMs`
 * (504, or `answer`), dropped if the client gives up first, and cut (socket destroyed) when the
 * server closes, so a held request never delays shutdown.
 */
export class HeldRequests {
  readonly #held = new Set<() => void>();

  get size(): number {
    return this.#held.size;
  }

  hold(reply: FastifyReply, holdMs: number, answer?: (raw: FastifyReply['raw']) => void): Promise<void> {
    reply.hijack();
    const raw = reply.raw;
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        this.#held.delete(cut);
        resolve();
      };
      const cut = () => {
        raw.destroy();
        done();
      };
      timer = setTimeout(() => {
        if (raw.destroyed) return done();
        if (answer) answer(raw);
        else raw.writeHead(504, { 'content-length': '0' }).end();
        done();
      }, holdMs);
      raw.once('close', done);
      this.#held.add(cut);
    });
  }

  /** Cuts every held request. */
  release(): void {
    for (const cut of [...this.#held]) cut();
  }
}

/** Drops the connection without an answer (ECONNRESET / "socket hang up" for the client). */
export function resetConnection(reply: FastifyReply): void {
  reply.hijack();
  reply.raw.destroy();
}
