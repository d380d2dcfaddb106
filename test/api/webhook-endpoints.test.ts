import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyWebhook } from '@igdm/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebhookEndpoints } from '../../src/deliveries/endpoints.ts';
import { SecretBox } from '../../src/store/secret-box.ts';
import { getDelivery } from '../../src/store/webhook-deliveries.ts';
import { type HookReceiver, startHookReceiver } from '../engine/flow/support.ts';
import { type SandboxService, startSandboxService, until } from '../send/support.ts';
import { deliver, messageItem, newIgsid } from '../support/conversations.ts';
import { callApi, igBody, startTestService, type TestService } from '../support/service.ts';
import { storedBytes } from '../support/stored.ts';

// Outbound webhooks through the API and a real receiver: endpoints made, changed, rotated and
// deleted; every matching event POSTed and signed as Standard Webhooks says (checked with the SDK's
// verifyWebhook); a failing receiver retried with the same webhook-id; the delivery log; retries by
// hand; and keys that see only some channels.

let svc: SandboxService;
let hooks: HookReceiver;
beforeAll(async () => {
  svc = await startSandboxService();
  hooks = await startHookReceiver();
});
afterAll(async () => {
  await svc.stop();
  await hooks.close();
});
beforeEach(() => {
  hooks.received.length = 0;
  hooks.status = () => 200;
  hooks.delayMs = () => 0;
});

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
type Any = any;

async function endpoint(body: Record<string, unknown> = {}, key?: string): Promise<Any> {
  const r = await as(key, '/v1/webhook-endpoints', {
    method: 'POST',
    body: { url: hooks.url, events: ['*'], ...body },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

/** A request with another API key (the admin key when none). */
const as = (key: string | undefined, path: string, init: { method?: string; body?: unknown } = {}) =>
  callApi(svc, init.method ?? (init.body === undefined ? 'GET' : 'POST'), path, {
    ...(key && { key }),
    body: init.body,
  });

const remove = (id: string) => svc.json(`/v1/webhook-endpoints/${id}`, { method: 'DELETE' });

/** The hooks received for events of `igsid`'s conversation (or all), once `n` have come. */
async function hooksFor(n: number, match: (h: HookReceiver['received'][number]) => boolean = () => true) {
  return until(
    () => hooks.received.filter(match),
    (hs) => hs.length >= n,
    `${n} webhook deliveries`,
  );
}

const deliveriesOf = async (endpointId: string, query = '') =>
  (await svc.json(`/v1/webhook-endpoints/${endpointId}/deliveries${query}`)).body.data as Any[];

describe('webhook endpoints', () => {
  it('are made with a whsec_ secret shown once, and kept sealed in the store', async () => {
    const made = await endpoint({ events: ['message.received'], description: 'CRM' });
    expect(made).toMatchObject({
      id: expect.stringMatching(/^we_/),
      url: hooks.url,
      events: ['message.received'],
      channels: null,
      enabled: true,
      description: 'CRM',
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/=]{32}$/),
    });
    const listed = await svc.json('/v1/webhook-endpoints');
    expect(listed.body.data).toContainEqual(expect.objectContaining({ id: made.id }));
    expect(JSON.stringify(listed.body)).not.toContain(made.secret.slice(6));
    const one = await svc.json(`/v1/webhook-endpoints/${made.id}`);
    expect(one.status).toBe(200);
    expect(one.body.secret).toBeUndefined();
    // The store's files (SQLite), or every row of its tables (PostgreSQL); the endpoint is there.
    const stored = await storedBytes(svc.config.databaseUrl);
    expect(stored.some((s) => s.bytes.includes(made.id))).toBe(true);
    for (const { name, bytes } of stored) {
      expect(bytes.includes(made.secret.slice(6)), name).toBe(false);
      expect(bytes.includes(Buffer.from(made.secret.slice(6), 'base64')), name).toBe(false);
    }
    await remove(made.id);
  });

  it('POST each event asked for, signed: verifyWebhook accepts it, and its body is the event', async () => {
    const made = await endpoint({ events: ['message.received', 'instagram.quick_reply'] });
    const { igsid, mid } = await svc.customer({ from: 'hooked customer', text: 'hello hooks' });
    const [hook] = await hooksFor(1);
    const event = verifyWebhook<Any>(hook!.raw, hook!.headers, made.secret);
    expect(event).toMatchObject({
      event: 'message.received',
      channelId: 'default',
      data: { mid, text: 'hello hooks' },
    });
    expect(hook!.headers['webhook-id']).toBe(event.id);
    expect(hook!.headers['user-agent']).toBe('igdm-webhooks');
    // The same event on the stream's log (the webhook-id is the event's id).
    const logged = await svc.store.db
      .selectFrom('events')
      .select('event')
      .where('id', '=', Number(event.id))
      .executeTakeFirst();
    expect(logged?.event).toBe('message.received');
    // Another secret, or a changed body, is refused.
    expect(() => verifyWebhook(hook!.raw, hook!.headers, 'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).toThrow();
    expect(() => verifyWebhook(hook!.raw.replace('hello', 'HELLO'), hook!.headers, made.secret)).toThrow();
    // A quick-reply tap is both events; igdm's own reply (message.queued/sent) is not asked for.
    await svc.customer({ from: igsid, text: 'Mugs', quickReplyPayload: 'MUGS' });
    await svc.send({ to: igsid, content: { type: 'text', text: 'not for this endpoint' } });
    const hs = await hooksFor(3);
    expect(hs.map((h) => h.body.event).sort()).toEqual([
      'instagram.quick_reply',
      'message.received',
      'message.received',
    ]);
    await svc.settled();
    await new Promise((r) => setTimeout(r, 500));
    expect(hooks.received).toHaveLength(3);
    await remove(made.id);
  });

  it('retry a failing receiver with the same webhook-id; the delivery log shows every attempt', async () => {
    const made = await endpoint({ events: ['message.received'] });
    let calls = 0;
    hooks.status = () => (++calls <= 2 ? 503 : 204);
    await svc.customer({ from: 'retried customer', text: 'try again' });
    await hooksFor(1);
    const [waiting] = await until(
      () => deliveriesOf(made.id),
      (ds) => ds[0]?.attempts.length === 1,
      'the first attempt logged',
    );
    expect(waiting).toMatchObject({
      status: 'pending',
      lastError: 'HTTP 503',
      nextAttemptAt: expect.any(String),
    });
    expect(Date.parse(waiting.nextAttemptAt)).toBeGreaterThan(Date.now());
    // The backoff's waits are seconds and more: run them now.
    await until(
      () => svc.queue.runNow('webhook').then(() => hooks.received.length),
      (n) => n >= 3,
      'three attempts',
    );
    const ids = new Set(hooks.received.map((h) => h.headers['webhook-id']));
    expect(ids.size).toBe(1);
    for (const h of hooks.received) expect(() => verifyWebhook(h.raw, h.headers, made.secret)).not.toThrow();
    expect(new Set(hooks.received.map((h) => h.raw)).size).toBe(1);
    const [done] = await until(
      () => deliveriesOf(made.id),
      (ds) => ds[0]?.status === 'succeeded',
      'delivered',
    );
    expect(done).toMatchObject({
      endpointId: made.id,
      event: 'message.received',
      webhookId: [...ids][0],
      nextAttemptAt: null,
      attempts: [
        { attempt: 1, status: 503, error: 'HTTP 503' },
        { attempt: 2, status: 503, error: 'HTTP 503' },
        { attempt: 3, status: 204, error: null },
      ],
    });
    expect((await svc.json(`/v1/webhook-deliveries/${done.id}`)).body).toEqual(done);
    expect(await deliveriesOf(made.id, '?status=failed')).toEqual([]);
    // An attempt committed between the API's read of the delivery and its read of the attempts (on
    // PostgreSQL they see different commits) is not shown beside a delivery that does not count it.
    await svc.store.db
      .insertInto('webhookAttempts')
      .values({
        deliveryId: done.id,
        attempt: 4,
        at: Date.now(),
        status: 204,
        error: null,
        response: null,
        durationMs: 1,
      })
      .execute();
    expect((await svc.json(`/v1/webhook-deliveries/${done.id}`)).body).toEqual(done);
    expect(await deliveriesOf(made.id)).toEqual([done]);
    // Deleted (pruned, erased) after a retry by hand read it: not reopened, nothing queued for it.
    const read = (await getDelivery(svc.store.db, done.id))!;
    await svc.store.db.deleteFrom('webhookAttempts').where('deliveryId', '=', done.id).execute();
    await svc.store.db.deleteFrom('webhookDeliveries').where('id', '=', done.id).execute();
    const endpoints = new WebhookEndpoints({
      db: svc.store.db,
      box: new SecretBox(randomBytes(32)),
      jobs: svc.queue,
      dispatcher: { endpointsChanged: () => {} },
    });
    expect(await endpoints.retry(read)).toBeNull();
    const queued = await svc.store.db
      .selectFrom('jobs')
      .select('dedupKey')
      .where('key', '=', done.id)
      .execute();
    expect(queued.map((j) => j.dedupKey)).toEqual([`webhook:${done.id}:first`]);
    expect((await svc.json(`/v1/webhook-deliveries/${done.id}`)).status).toBe(404);
    expect(await deliveriesOf(made.id)).toEqual([]);
    await remove(made.id);
  });

  it('a receiver that cannot be reached is tried for 24 hours, then the delivery is failed', async () => {
    const made = await endpoint({ events: ['message.received'] });
    hooks.status = () => 500;
    await svc.customer({ from: 'unlucky customer', text: 'anyone there?' });
    const [first] = await until(
      () => deliveriesOf(made.id),
      (ds) => ds[0]?.attempts.length === 1,
      'the first attempt',
    );
    // A day has gone by (the delivery's deadline moved to the past), and the next attempt fails too.
    await svc.store.db
      .updateTable('webhookDeliveries')
      .set({ retryUntil: Date.now() - 1 })
      .where('id', '=', first.id)
      .execute();
    await svc.queue.runNow('webhook');
    const [failed] = await until(
      () => deliveriesOf(made.id),
      (ds) => ds[0]?.status === 'failed',
      'failed',
    );
    expect(failed).toMatchObject({ attempts: [{ status: 500 }, { status: 500 }], nextAttemptAt: null });
    expect((await deliveriesOf(made.id, '?status=failed')).map((d) => d.id)).toEqual([first.id]);

    // Retried by hand once the receiver is back: once more, with the same webhook-id.
    hooks.status = () => 200;
    const retried = await svc.json(`/v1/webhook-deliveries/${first.id}/retry`, { method: 'POST', body: {} });
    expect(retried.status).toBe(202);
    const again = await until(
      () => svc.json(`/v1/webhook-deliveries/${first.id}`).then((r) => r.body),
      (d) => d.status === 'succeeded',
      'the retry by hand',
    );
    expect(again.attempts.map((a: Any) => a.status)).toEqual([500, 500, 200]);
    expect(new Set(hooks.received.map((h) => h.headers['webhook-id']))).toEqual(new Set([first.webhookId]));
    expect(
      (await svc.json('/v1/webhook-deliveries/dlv_nope/retry', { method: 'POST', body: {} })).status,
    ).toBe(404);
    await remove(made.id);
  });

  it('a receiver that is slow to answer holds up no reply', async () => {
    const made = await endpoint({ events: ['message.received'] });
    hooks.delayMs = () => 2500;
    const { igsid } = await svc.customer({ from: 'patient customer', text: 'are you slow?' });
    await hooksFor(1);
    const sent = await svc.send({ to: igsid, content: { type: 'text', text: 'not at all' } });
    expect(sent.status).toBe(202);
    await svc.waitMessage(sent.body.id);
    // Sent while the receiver was still thinking about the delivery.
    const [d] = await deliveriesOf(made.id);
    expect(d).toMatchObject({ status: 'pending', attempts: [] });
    await until(
      () => deliveriesOf(made.id),
      (ds) => ds[0]?.status === 'succeeded',
      'delivered in the end',
    );
    await remove(made.id);
  });

  it('are changed, disabled, rotated and deleted', async () => {
    const made = await endpoint({ events: ['message.sent'] });
    const changed = await svc.json(`/v1/webhook-endpoints/${made.id}`, {
      method: 'PATCH',
      body: { events: ['message.received'], description: 'changed' },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({
      events: ['message.received'],
      description: 'changed',
      enabled: true,
    });

    // Disabled: nothing is delivered, and not later either.
    await svc.json(`/v1/webhook-endpoints/${made.id}`, { method: 'PATCH', body: { enabled: false } });
    const { igsid } = await svc.customer({ from: 'ignored customer', text: 'while disabled' });
    await svc.json(`/v1/webhook-endpoints/${made.id}`, { method: 'PATCH', body: { enabled: true } });
    await svc.customer({ from: igsid, text: 'after enabling' });
    const [after] = await hooksFor(1);
    expect(after!.body.data.text).toBe('after enabling');

    // Rotated: the new secret and, for a day, the old one both verify.
    const rotated = await svc.json(`/v1/webhook-endpoints/${made.id}/rotate-secret`, {
      method: 'POST',
      body: {},
    });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(made.secret);
    await svc.customer({ from: igsid, text: 'after rotating' });
    const [, rotatedHook] = await hooksFor(2);
    expect(rotatedHook!.headers['webhook-signature']).toMatch(/^v1,\S+ v1,\S+$/);
    expect(() => verifyWebhook(rotatedHook!.raw, rotatedHook!.headers, rotated.body.secret)).not.toThrow();
    expect(() => verifyWebhook(rotatedHook!.raw, rotatedHook!.headers, made.secret)).not.toThrow();

    // Deleted: a delivery still waiting is cancelled, not sent.
    hooks.status = () => 500;
    await svc.customer({ from: igsid, text: 'before deleting' });
    await hooksFor(3);
    const [pending] = await until(
      () => deliveriesOf(made.id),
      (ds) => ds[0]?.attempts.length === 1,
      'a failed attempt',
    );
    expect((await remove(made.id)).status).toBe(204);
    await svc.queue.runNow('webhook');
    const cancelled = await until(
      () => svc.json(`/v1/webhook-deliveries/${pending.id}`).then((r) => r.body),
      (d) => d.status === 'cancelled',
      'cancelled',
    );
    expect(cancelled.lastError).toBe('the endpoint was deleted');
    expect(hooks.received).toHaveLength(3);
    expect((await svc.json(`/v1/webhook-endpoints/${made.id}`)).status).toBe(404);
    expect((await remove(made.id)).status).toBe(404);
  });

  it('refuse what is not an endpoint, with the reason', async () => {
    const bad = async (body: unknown) => {
      const r = await svc.json('/v1/webhook-endpoints', { method: 'POST', body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
      return r.body.error.message as string;
    };
    expect(await bad({ url: 'ftp://example.com/x', events: ['*'] })).toMatch(/url/);
    expect(await bad({ url: hooks.url, events: ['message.exploded'] })).toMatch(/events/);
    expect(await bad({ url: hooks.url, events: [] })).toMatch(/events/);
    expect(await bad({ url: hooks.url })).toMatch(/events/);
    const unknown = await svc.json('/v1/webhook-endpoints', {
      method: 'POST',
      body: { url: hooks.url, events: ['*'], channels: ['nope'] },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('channel_not_found');
  });
});

describe('webhook endpoints and API keys', () => {
  it('need an admin key; a key limited to channels sees and makes only its own', async () => {
    const key = async (body: Record<string, unknown>) => {
      const r = await svc.json('/v1/api-keys', { method: 'POST', body: { name: 'k', ...body } });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      return r.body.key as string;
    };
    const other = await svc.json('/v1/channels', {
      method: 'POST',
      body: {
        id: 'hooks-other',
        name: 'Other shop',
        accountId: '17841499999999991',
        accessToken: 'other-token',
        appSecret: 'other-secret',
        verifyToken: 'other-verify',
      },
    });
    expect(other.status, JSON.stringify(other.body)).toBe(201);
    const sender = await key({});
    const limited = await key({ scopes: ['read', 'admin'], channels: ['default'] });
    const elsewhere = await key({ scopes: ['read', 'admin'], channels: ['hooks-other'] });

    expect((await as(sender, '/v1/webhook-endpoints')).status).toBe(403);
    expect(
      (await as(sender, '/v1/webhook-endpoints', { body: { url: hooks.url, events: ['*'] } })).status,
    ).toBe(403);

    const all = await endpoint({ events: ['message.received'] });
    const mine = await endpoint({ events: ['message.received'] }, limited);
    expect(mine.channels).toEqual(['default']);
    expect((await as(limited, '/v1/webhook-endpoints')).body.data.map((e: Any) => e.id)).toEqual([mine.id]);
    expect((await as(limited, `/v1/webhook-endpoints/${all.id}`)).status).toBe(404);
    expect((await as(limited, `/v1/webhook-endpoints/${all.id}`, { method: 'DELETE' })).status).toBe(404);
    expect(
      (await as(limited, `/v1/webhook-endpoints/${mine.id}`, { method: 'PATCH', body: { channels: null } }))
        .status,
    ).toBe(400);
    const foreign = await as(limited, '/v1/webhook-endpoints', {
      body: { url: hooks.url, events: ['*'], channels: ['hooks-other'] },
    });
    expect(foreign.status).toBe(404);

    // Both endpoints get the default channel's message, the other channel's endpoint does not; the
    // deliveries show to the keys that see them.
    const theirs = await endpoint({ url: `${hooks.url}?to=other`, events: ['message.received'] }, elsewhere);
    expect(theirs.channels).toEqual(['hooks-other']);
    await svc.customer({ from: 'scoped customer', text: 'scoped hello' });
    await hooksFor(2);
    await svc.settled();
    await new Promise((r) => setTimeout(r, 500));
    expect(hooks.received.map((h) => h.url)).toEqual(['/hooks/igdm', '/hooks/igdm']);
    const seen = await until(
      () => as(limited, '/v1/webhook-deliveries').then((r) => r.body.data as Any[]),
      (ds) => ds.some((d) => d.endpointId === mine.id),
      'the deliveries',
    );
    expect(seen.every((d) => d.channelId === 'default')).toBe(true);
    expect((await as(elsewhere, '/v1/webhook-deliveries')).body.data).toEqual([]);
    expect((await as(elsewhere, `/v1/webhook-deliveries/${seen[0].id}`)).status).toBe(404);
    expect((await as(elsewhere, `/v1/webhook-endpoints/${mine.id}/deliveries`)).status).toBe(404);
    for (const e of [all, mine, theirs]) await remove(e.id);
  });
});

describe('a delivery waiting for its receiver when igdm stops', () => {
  it('is cut off, recorded as such, and delivered at the next start with the same webhook-id', async () => {
    const receiver = await startHookReceiver();
    receiver.delayMs = () => 60_000; // answers long after the 15 s igdm waits for
    const dir = mkdtempSync(join(tmpdir(), 'igdm-delivery-stop-'));
    const first = await startTestService({}, dir);
    let second: TestService | undefined;
    try {
      const made = await callApi(first, 'POST', '/v1/webhook-endpoints', {
        body: { url: receiver.url, events: ['message.received'] },
      });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      await deliver(first, igBody([messageItem(newIgsid(), Date.now(), { text: 'are you there?' })]));
      await until(
        () => receiver.received.length,
        (n) => n === 1,
        'the first attempt at the receiver',
      );
      // Only a stop that stops waiting ends before the receiver answers (igdm's own limit is 15 s).
      await first.stop();

      receiver.delayMs = () => 0;
      second = await startTestService({}, dir);
      const deliveries = () =>
        callApi(second!, 'GET', `/v1/webhook-endpoints/${made.body.id}/deliveries`).then(
          (r) => r.body.data as Any[],
        );
      const [done] = await until(deliveries, (ds) => ds[0]?.status === 'succeeded', 'delivered');
      expect(done.attempts).toMatchObject([
        { attempt: 1, status: null, error: 'igdm stopped before the answer came' },
        { attempt: 2, status: 200, error: null },
      ]);
      const ids = new Set(receiver.received.map((h) => h.headers['webhook-id']));
      expect(receiver.received).toHaveLength(2);
      expect(ids.size).toBe(1);
    } finally {
      await first.stop();
      await second?.stop();
      await receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
