import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type Approval,
  type ApprovalDecision,
  ApprovalTimeoutError,
  type Fetch,
  Igdm,
  IgdmError,
  verifyWebhook,
} from '@igdm/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxService, startSandboxService, until } from '../send/support.ts';
import { API_KEY } from '../support/service.ts';

// client.approvals as a workflow uses it, against igdm in sandbox mode through real HTTP: create,
// get, list, cancel, and wait, which follows the event stream, with a fetch of the test's own that
// holds or cuts the stream's connection (as a network does) to show a decision made meanwhile is
// not missed, and that no connection is left open once the wait has settled.

let svc: SandboxService;
let client: Igdm;

beforeAll(async () => {
  svc = await startSandboxService();
  client = new Igdm({ baseUrl: svc.url, apiKey: API_KEY });
});
afterAll(() => svc.stop());

/** A simulated customer writes (their window opens): answers their IGSID. */
async function approverWrites(name: string): Promise<string> {
  const acted = await client.sandbox.customerActs({ from: name, text: 'ready when you are' });
  expect(acted.delivered.status).toBe(200);
  await svc.settled();
  return acted.igsid;
}

const ask = (approver: string, title = 'Refund order #1042') =>
  client.approvals.create({
    channelId: 'default',
    approver,
    title,
    fields: [
      { label: 'Amount', value: '$120.00' },
      { label: 'Card', value: '4242 4242 4242 4242', display: 'masked' },
      { label: 'Reason', value: 'arrived broken', display: 'concealed' },
    ],
    expiresInSeconds: 3600,
    metadata: { orderId: 1042 },
  });

/** The approver taps a quick reply of the approval's DM. */
async function taps(approver: string, approval: Approval, answer: 'APPROVE' | 'REJECT') {
  const acted = await client.sandbox.customerActs({
    from: approver,
    text: answer === 'APPROVE' ? 'Approve ✅' : 'Reject ❌',
    quickReplyPayload: `HIL_${answer}|${approval.id}`,
  });
  expect(acted.delivered.status).toBe(200);
  await svc.settled();
}

async function refusal(p: Promise<unknown>): Promise<IgdmError> {
  const err = await p.then(
    () => expect.unreachable('the call succeeded'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IgdmError);
  return err as IgdmError;
}

/**
 * A client whose event stream the test controls: `hold()` keeps the next connections waiting until
 * released, `cut()` drops the open one. `streams` are the stream requests made, with their signals;
 * `reads()` counts the other GETs answered.
 */
function streamControlledClient() {
  const streams: { signal: AbortSignal; cut: () => void }[] = [];
  let gate: { promise: Promise<void>; open: () => void } | null = null;
  let held = 0;
  let reads = 0;
  const fetch: Fetch = async (url, init) => {
    if (new URL(url).pathname !== '/v1/events') {
      const res = await globalThis.fetch(url, init);
      if (init.method === 'GET') reads++;
      return res;
    }
    if (gate) {
      held++;
      await gate.promise;
      held--;
    }
    const res = await globalThis.fetch(url, init);
    if (!res.body) return res;
    // The body passes through a pipe the test can break: the client sees a dropped connection.
    const cutter = new AbortController();
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    res.body.pipeTo(writable, { signal: cutter.signal }).catch(() => undefined);
    streams.push({ signal: init.signal!, cut: () => cutter.abort() });
    return new Response(readable, { status: res.status, headers: res.headers });
  };
  return {
    client: new Igdm({ baseUrl: svc.url, apiKey: API_KEY, fetch }),
    streams,
    held: () => held,
    reads: () => reads,
    hold() {
      let open!: () => void;
      const promise = new Promise<void>((resolve) => {
        open = resolve;
      });
      gate = { promise, open };
    },
    release() {
      gate?.open();
      gate = null;
    },
  };
}

describe('client.approvals', () => {
  it('creates one: pending, its DM in the thread; get and list find it', async () => {
    const approver = await approverWrites('approver ana');
    const approval = await ask(approver);
    expect(approval).toMatchObject({
      id: expect.stringMatching(/^apr_/),
      channelId: 'default',
      approver,
      title: 'Refund order #1042',
      status: 'pending',
      approved: null,
      respondedBy: null,
      respondedAt: null,
      decidedAt: null,
      metadata: { orderId: 1042 },
      callbackUrl: null,
      shortened: [],
    });
    // The admin key sees the masked value; the concealed one was never kept.
    expect(approval.fields).toEqual([
      { label: 'Amount', display: 'visible', value: '$120.00' },
      { label: 'Card', display: 'masked', value: '4242 4242 4242 4242' },
      { label: 'Reason', display: 'concealed', value: null },
    ]);
    expect(await client.approvals.get(approval.id)).toEqual(approval);

    const dm = await until(
      () => client.conversations.messages(approval.conversationId),
      (p) => p.data.some((m) => m.approvalId === approval.id),
      'the approval DM in the thread',
    );
    expect(dm.data.find((m) => m.approvalId === approval.id)).toMatchObject({
      id: approval.messageId,
      direction: 'outbound',
      author: 'approval',
    });
    expect(dm.data.filter((m) => m.approvalId === null).every((m) => m.author !== 'approval')).toBe(true);

    const pending = await client.approvals.list({
      status: 'pending',
      conversationId: approval.conversationId,
    });
    expect(pending.data.map((a) => a.id)).toEqual([approval.id]);
    expect((await client.approvals.list({ status: 'approved', channelId: 'default' })).data).toEqual([]);
    const all: string[] = [];
    for await (const a of client.approvals.listAll({ channelId: 'default', limit: 1 })) all.push(a.id);
    expect(all).toContain(approval.id);
  });

  it('refuses an approver who has not written within 24 hours, and answers 404 for an unknown id', async () => {
    const err = await refusal(ask('999000222'));
    expect(err).toMatchObject({ status: 422, code: 'outside_window' });
    expect(await refusal(client.approvals.get('apr_nope'))).toMatchObject({
      status: 404,
      code: 'approval_not_found',
    });
    expect(await refusal(client.approvals.wait('apr_nope'))).toMatchObject({
      status: 404,
      code: 'approval_not_found',
    });
  });

  it('wait resolves once the approver taps Approve, saying who decided and when', async () => {
    const approver = await approverWrites('approver ben');
    const approval = await ask(approver, 'Delete 3 old invoices');
    const watching = streamControlledClient();
    const waiting = watching.client.approvals.wait(approval.id, { timeoutMs: 15_000 });
    // Its two reads answered (before the stream, and once it is open): the event decides it.
    await until(watching.reads, (n) => n === 2, 'the approval read twice');
    expect(watching.streams).toHaveLength(1);
    await taps(approver, approval, 'APPROVE');
    const decided = await waiting;
    expect(decided).toMatchObject({
      id: approval.id,
      status: 'approved',
      approved: true,
      respondedBy: approver,
      respondedAt: expect.any(String),
      decidedAt: expect.any(String),
    });
    // As `get` answers it: the masked value, for this admin key.
    expect(decided.fields[1]).toEqual({ label: 'Card', display: 'masked', value: '4242 4242 4242 4242' });

    // Decided already: answered by the first read, without following the stream.
    const { client: watched, streams } = streamControlledClient();
    expect(await watched.approvals.wait(approval.id)).toMatchObject({ status: 'approved' });
    expect(streams).toEqual([]);
  });

  it('wait resolves with a rejection, and with a cancellation; a second cancel is refused', async () => {
    const approver = await approverWrites('approver chloé');
    const rejected = await ask(approver, 'Wire $5,000');
    const waitingReject = client.approvals.wait(rejected.id, { timeoutMs: 15_000 });
    await taps(approver, rejected, 'REJECT');
    expect(await waitingReject).toMatchObject({ status: 'rejected', approved: false, respondedBy: approver });

    const cancelled = await ask(approver, 'Ship it today');
    const waitingCancel = client.approvals.wait(cancelled.id, { timeoutMs: 15_000 });
    expect(await client.approvals.cancel(cancelled.id)).toMatchObject({ status: 'cancelled' });
    expect(await waitingCancel).toMatchObject({ status: 'cancelled', approved: null, respondedBy: null });
    expect(await refusal(client.approvals.cancel(cancelled.id))).toMatchObject({
      status: 409,
      code: 'approval_decided',
    });
  });

  it('does not miss a decision made while its stream connects, nor one made while it reconnects', async () => {
    const approver = await approverWrites('approver dmitri');

    // Decided after the first read, before the stream is open: the read on connecting finds it.
    const first = streamControlledClient();
    const early = await ask(approver, 'Decided while connecting');
    first.hold();
    const waitingEarly = first.client.approvals.wait(early.id, { timeoutMs: 10_000 });
    await until(first.held, (n) => n === 1, 'the stream request held');
    await taps(approver, early, 'APPROVE');
    first.release();
    expect(await waitingEarly).toMatchObject({ status: 'approved' });

    // Decided while the connection is down (no event seen yet: it reconnects from "now").
    const second = streamControlledClient();
    const late = await ask(approver, 'Decided while reconnecting');
    const waitingLate = second.client.approvals.wait(late.id, { timeoutMs: 15_000 });
    await until(
      () => second.streams.length,
      (n) => n === 1,
      'the stream open',
    );
    second.hold();
    second.streams[0]!.cut();
    await until(second.held, (n) => n === 1, 'the reconnection held', 8000);
    await taps(approver, late, 'REJECT');
    second.release();
    expect(await waitingLate).toMatchObject({ status: 'rejected' });
    expect(second.streams.every((s) => s.signal.aborted)).toBe(true);
  });

  it('gives up after timeoutMs, or when aborted, and leaves no connection open', async () => {
    const approver = await approverWrites('approver emma');
    const approval = await ask(approver, 'Nobody answers this one');

    const timed = streamControlledClient();
    const err = await timed.client.approvals.wait(approval.id, { timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApprovalTimeoutError);
    expect(err).toMatchObject({ approvalId: approval.id, timeoutMs: 1000 });
    expect((err as Error).message).toContain('still pending after 1000 ms');
    expect(timed.streams.every((s) => s.signal.aborted)).toBe(true);

    const aborted = streamControlledClient();
    const stop = new AbortController();
    const waiting = aborted.client.approvals.wait(approval.id, { signal: stop.signal });
    await until(
      () => aborted.streams.length,
      (n) => n === 1,
      'the stream open',
    );
    stop.abort(new Error('the workflow was cancelled'));
    await expect(waiting).rejects.toThrow('the workflow was cancelled');
    expect(aborted.streams[0]!.signal.aborted).toBe(true);
    // Aborted before it starts: it asks igdm nothing.
    await expect(aborted.client.approvals.wait(approval.id, { signal: stop.signal })).rejects.toThrow(
      'the workflow was cancelled',
    );
    expect(aborted.streams).toHaveLength(1);
    expect((await client.approvals.get(approval.id)).status).toBe('pending');
  });

  it('posts the decision to callbackUrl, signed with the secret igdm answered once: verifyWebhook accepts it', async () => {
    const received: { raw: Buffer; headers: IncomingHttpHeaders }[] = [];
    const server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      received.push({ raw: Buffer.concat(chunks), headers: req.headers });
      res.writeHead(204).end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const approver = await approverWrites('approver farah');
      const approval = await client.approvals.create({
        approver,
        title: 'Publish the spring sale post',
        fields: [{ label: 'Starts', value: 'Monday 9:00' }],
        callbackUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/igdm/approvals`,
        expiresInSeconds: 600,
        metadata: { workflowRun: 'run_77' },
      });
      expect(approval.callbackSecret).toMatch(/^whsec_/);
      // Shown once: never again.
      expect(await client.approvals.get(approval.id)).not.toHaveProperty('callbackSecret');

      await taps(approver, approval, 'APPROVE');
      await until(
        () => received.length,
        (n) => n === 1,
        'the callback',
      );
      const [{ raw, headers }] = received as [(typeof received)[0]];
      const decision = verifyWebhook<ApprovalDecision>(raw, headers, approval.callbackSecret!);
      expect(decision).toEqual({
        type: 'approval.decided',
        approvalId: approval.id,
        status: 'approved',
        approved: true,
        respondedBy: approver,
        respondedAt: expect.any(String),
        decidedAt: expect.any(String),
        metadata: { workflowRun: 'run_77' },
      });
      // Signed with that secret only: another one fails the check.
      expect(() => verifyWebhook(raw, headers, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toThrow(
        'no signature matches',
      );
      const delivered = await until(
        () => client.approvals.get(approval.id),
        (a) => a.callback?.status === 'delivered',
        'the callback marked delivered',
      );
      expect(delivered.callback).toMatchObject({ attempts: 1, lastError: null });
      // One id per decision, in both headers; the delivery log has its attempts.
      expect(headers['x-igdm-delivery']).toBe(headers['webhook-id']);
      const delivery = await client.webhookEndpoints.getDelivery(delivered.callback!.deliveryId);
      expect(delivery).toMatchObject({ webhookId: headers['webhook-id'], status: 'succeeded' });
      expect(delivery.attempts.map((a) => a.status)).toEqual([204]);
    } finally {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
  });
});
