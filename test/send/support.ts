import { expect } from 'vitest';
import type { Logger } from '../../src/log.ts';
import type { OutboxEntry } from '../../src/sandbox/index.ts';
import type { ServiceOptions } from '../../src/service.ts';
import type { MessageJson } from '../support/conversations.ts';
import { allMessages, conversationOf } from '../support/conversations.ts';
import { startTestService, type TestService } from '../support/service.ts';

// igdm in sandbox mode (no credentials: channel `default` talks to the in-process sandbox at
// /sandbox), and the calls the send tests make through its HTTP API and the sandbox's control routes.

/** Blanks the credentials testEnv sets, so that the service runs its sandbox. */
const NO_CREDENTIALS = {
  META_APP_SECRET: '',
  WEBHOOK_VERIFY_TOKEN: '',
  INSTAGRAM_USER_ID: '',
  INSTAGRAM_ACCESS_TOKEN: '',
};

export const START = Date.UTC(2026, 0, 15, 12, 0, 0);
export const SECOND = 1000;
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/**
 * The service's (and so the sandbox's) clock. Frozen by default (policy boundaries are exact);
 * `running()` makes it follow the wall clock from the time it shows, so backoff timers fire.
 */
export class Clock {
  #base = START;
  #since: number | null = null;
  now = () => (this.#since === null ? this.#base : this.#base + (Date.now() - this.#since));
  set(t: number) {
    this.#base = t;
    if (this.#since !== null) this.#since = Date.now();
  }
  advance(ms: number) {
    this.set(this.now() + ms);
  }
  running() {
    this.#base = this.now();
    this.#since = Date.now();
    return this;
  }
}

export interface SandboxService extends TestService {
  /** POST /v1/messages. */
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
  send(body: unknown): Promise<{ status: number; body: any }>;
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
  json(path: string, init?: { method?: string; body?: unknown }): Promise<{ status: number; body: any }>;
  /** A simulated customer writes (POST /sandbox/messages); resolves once igdm has applied it. */
  customer(action: Record<string, unknown>): Promise<{ igsid: string; mid: string }>;
  /** What the sandbox's Send API received (GET /sandbox/outbox), oldest first. */
  outbox(): Promise<(OutboxEntry & { seq: number })[]>;
  /** POST /sandbox/failures. */
  inject(failure: Record<string, unknown>): Promise<void>;
  /** GET /v1/messages/:id until `done` holds. */
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
  waitMessage(id: string, done?: (m: any) => boolean, timeoutMs?: number): Promise<any>;
  /** The messages of the customer's conversation, once every delivered webhook is applied. */
  thread(igsid: string): Promise<MessageJson[]>;
  /** The store's outbox row of a message (or of a sender action, by its out_ id), until `done` holds. */
  // biome-ignore lint/suspicious/noExplicitAny: rows are read field by field in assertions
  waitOutbox(id: string, done: (row: any) => boolean, timeoutMs?: number): Promise<any>;
  /** Rows in the store's outbox and outbound messages. */
  counts(): Promise<{ outbox: number; outbound: number }>;
}

export async function startSandboxService(
  opts: { env?: Record<string, string>; clock?: Clock; service?: ServiceOptions; log?: Logger } = {},
): Promise<SandboxService> {
  const svc = await startTestService(
    { ...NO_CREDENTIALS, ...opts.env },
    undefined,
    { ...opts.service, ...(opts.clock && { now: opts.clock.now }) },
    opts.log,
  );
  if (!svc.sandbox) throw new Error('the service did not start in sandbox mode');
  const json: SandboxService['json'] = async (path, init = {}) => {
    const res = await svc.api(path, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      ...(init.body !== undefined && {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(init.body),
      }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const self: SandboxService = Object.assign(svc, {
    json,
    send: (body: unknown) => json('/v1/messages', { body }),
    async customer(action: Record<string, unknown>) {
      const r = await json('/sandbox/messages', { body: action });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.delivered.status, JSON.stringify(r.body.delivered)).toBe(200);
      await svc.settled();
      return { igsid: r.body.igsid as string, mid: r.body.mid as string };
    },
    async outbox() {
      const r = await json('/sandbox/outbox');
      expect(r.status).toBe(200);
      return r.body.data;
    },
    async inject(failure: Record<string, unknown>) {
      const r = await json('/sandbox/failures', { body: failure });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    },
    async waitMessage(id: string, done = (m: { status: string }) => m.status === 'sent', timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = await json(`/v1/messages/${id}`);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        if (done(r.body)) return r.body;
        if (Date.now() > deadline)
          throw new Error(`message ${id} did not get there in ${timeoutMs} ms: ${JSON.stringify(r.body)}`);
        await sleep(10);
      }
    },
    async thread(igsid: string) {
      await svc.sandbox!.delivery.settled();
      await svc.settled();
      const conversation = await conversationOf(svc, igsid);
      expect(conversation, `a conversation with ${igsid}`).toBeDefined();
      return allMessages(svc, conversation!.id);
    },
    waitOutbox(id: string, done: (row: { status: string; error: unknown }) => boolean, timeoutMs = 5000) {
      const read = async () => {
        const row = await svc.store.db
          .selectFrom('outbox')
          .selectAll()
          .where(id.startsWith('out_') ? 'id' : 'messageId', '=', id)
          .executeTakeFirstOrThrow();
        return { ...row, error: row.error === null ? null : JSON.parse(row.error) };
      };
      return until(read, done, `outbox row of ${id}`, timeoutMs);
    },
    async counts() {
      const db = svc.store.db;
      const outbox = await db
        .selectFrom('outbox')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      const outbound = await db
        .selectFrom('messages')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('direction', '=', 'outbound')
        .executeTakeFirstOrThrow();
      return { outbox: Number(outbox.n), outbound: Number(outbound.n) };
    },
  });
  return self;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `read` until `done` holds (or fails after the timeout). */
export async function until<T>(
  read: () => T | Promise<T>,
  done: (v: T) => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (${JSON.stringify(v)})`);
    await sleep(10);
  }
}

/** Successful Send API calls (HTTP 200) in the sandbox's outbox. */
export const delivered = (entries: readonly OutboxEntry[]) => entries.filter((e) => e.answer.status === 200);
