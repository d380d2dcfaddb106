import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxService, startSandboxService, until } from '../send/support.ts';

// GET /metrics, as Prometheus scrapes it: what a person running igdm watches. Each figure is made to
// move through the real routes (the sandbox's customers, the Send API, injected Graph failures, a
// low rate limit) and read back from the text a scrape gets.

let svc: SandboxService;
beforeAll(async () => {
  // One send per second: the third send in a row waits for the limit.
  svc = await startSandboxService({ env: { IGDM_RATE_SEND_PER_SECOND: '1' } });
});
afterAll(() => svc?.stop());

async function scrape(): Promise<string> {
  const res = await fetch(`${svc.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return res.text();
}

/** The sum of the samples of `name` whose labels include `labels`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
      sum += Number(m[3]);
      found = true;
    }
  }
  return found ? sum : Number.NaN;
}

describe('GET /metrics', () => {
  it('counts webhooks received, refusals by reason, and how long an acknowledgement takes', async () => {
    const before = await scrape();
    const received = sample(before, 'igdm_webhooks_received_total');
    await svc.customer({ from: 'metrics customer', text: 'hello' });
    expect((await svc.post({ object: 'instagram', entry: [] }, { secret: 'not-the-secret' })).status).toBe(
      403,
    );
    const unsigned = await svc.post(
      { object: 'instagram', entry: [] },
      { headers: { 'x-hub-signature-256': '' } },
    );
    expect(unsigned.status).toBe(401);

    const after = await scrape();
    expect(sample(after, 'igdm_webhooks_received_total')).toBe(received + 3);
    expect(sample(after, 'igdm_webhooks_refused_total', { reason: 'signature_invalid' })).toBe(1);
    expect(sample(after, 'igdm_webhooks_refused_total', { reason: 'signature_missing' })).toBe(1);
    expect(sample(after, 'igdm_ingest_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    // The engine ran the customer's message: its job was timed.
    expect(
      sample(after, 'igdm_job_duration_seconds_count', { queue: 'engine', outcome: 'done' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('times sends by channel, counts Graph errors by class and rate-limit waits', async () => {
    const { igsid } = await svc.customer({ from: 'metrics sends', text: 'are you open?' });
    // The first call to the Send API fails with a 500: retried, then sent.
    await svc.inject({ kind: '5xx', count: 1, path: 'messages' });
    const ids: string[] = [];
    for (const text of ['one', 'two', 'three']) {
      const r = await svc.send({ to: igsid, content: { type: 'text', text } });
      expect(r.status, JSON.stringify(r.body)).toBe(202);
      ids.push(r.body.id);
    }
    for (const id of ids) await svc.waitMessage(id, (m) => m.status === 'sent', 15_000);

    const text = await scrape();
    const send = { channel: 'default', operation: 'send' };
    // Three sent, and the one that failed first.
    expect(sample(text, 'igdm_graph_request_duration_seconds_count', send)).toBe(4);
    expect(sample(text, 'igdm_graph_errors_total', { ...send, class: 'retry' })).toBe(1);
    expect(sample(text, 'igdm_rate_limit_waits_total', { channel: 'default' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'igdm_rate_limit_wait_seconds_total', { channel: 'default' })).toBeGreaterThan(0);
    expect(sample(text, 'igdm_job_duration_seconds_count', { queue: 'send' })).toBeGreaterThanOrEqual(3);
    // Nothing secret in a scrape: the channel's token and app secret are not in it.
    const channel = svc.channels.get('default')!;
    expect(text).not.toContain(channel.accessToken!);
    expect(text).not.toContain(channel.appSecret);
  });

  it("shows each queue's depth and lag, and each channel's health", async () => {
    let text = await scrape();
    expect(sample(text, 'igdm_channel_health', { channel: 'default', status: 'ok' })).toBe(1);
    expect(sample(text, 'igdm_channel_health', { channel: 'default', status: 'needs_token' })).toBe(0);
    expect(sample(text, 'igdm_queue_jobs', { queue: 'engine', status: 'ready' })).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'igdm_queue_lag_seconds', { queue: 'engine' })).toBeGreaterThanOrEqual(0);

    // Meta refuses the token: the channel needs a new one, and its send waits in the queue.
    const { igsid } = await svc.customer({ from: 'metrics token', text: 'hi' });
    await svc.inject({ kind: 'token_expired', count: 1, path: 'messages' });
    const r = await svc.send({ to: igsid, content: { type: 'text', text: 'held' } });
    await svc.waitOutbox(r.body.id, (o) => o.error?.reason === 'token_expired');
    text = await until(
      scrape,
      (t) =>
        sample(t, 'igdm_channel_health', { channel: 'default', status: 'needs_token' }) === 1 &&
        sample(t, 'igdm_queue_jobs', { queue: 'send', status: 'ready' }) === 1,
      'the channel needs a token; its send waits in the queue',
    );
    expect(sample(text, 'igdm_channel_health', { channel: 'default', status: 'ok' })).toBe(0);
    expect(sample(text, 'igdm_graph_errors_total', { channel: 'default', class: 'reauthorize' })).toBe(1);
  });
});
