import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { runTestSandbox } from '../send/stack.ts';
import { Clock, DAY, type SandboxService, START, startSandboxService, until } from '../send/support.ts';
import { freePort } from '../support/http.ts';
import { API_KEY, startTestService, type TestService } from '../support/service.ts';
import { sseFrames } from '../support/sse.ts';

// Instagram Login tokens live 60 days: igdm learns a token's expiry (debug_token with the channel's
// app id), refreshes it through refresh_access_token before it expires, sends with the new one, and
// warns 7 days ahead when it cannot refresh. The clock is moved, not waited for; the sandbox's
// Graph API takes only its current token, and only until it expires.

const SANDBOX_APP_ID = '1234567890123456';

let svc: SandboxService | undefined;
afterEach(async () => {
  await svc?.stop();
  svc = undefined;
});

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
type Json = any;

const channelOf = async (s: Pick<TestService, 'api'>): Promise<Json> =>
  (await s.api('/v1/channels/default')).json();

/** The events of the log so far (GET /v1/events?after=0), read until `enough` holds. */
async function eventsUntil(s: TestService, enough: (events: Json[]) => boolean): Promise<Json[]> {
  const abort = new AbortController();
  const res = await fetch(`${s.url}/v1/events?after=0`, {
    headers: { authorization: `Bearer ${API_KEY}` },
    signal: abort.signal,
  });
  const events: Json[] = [];
  const timer = setTimeout(() => abort.abort(), 5000);
  try {
    for await (const { data } of sseFrames(res.body!)) {
      if (data) events.push(JSON.parse(data));
      if (enough(events)) break;
    }
  } catch {
    // aborted: what was read is returned
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return events;
}

describe('tokens that stay alive (sandbox mode)', () => {
  it('learns the expiry, refreshes the token 50 days on, and sends with the new one', async () => {
    const clock = new Clock();
    svc = await startSandboxService({ clock, service: { tokenCheckEveryMs: 20 } });
    const s = svc;
    const learnt = await until(
      () => channelOf(s),
      (c) => c.token.expiresInDays !== null,
      'the expiry from debug_token',
    );
    expect(learnt).toMatchObject({
      appId: SANDBOX_APP_ID,
      token: {
        state: 'ok',
        expiresInDays: 60,
        expiresAt: new Date(START + 60 * DAY).toISOString(),
        refreshedAt: null,
        problem: null,
      },
    });
    const first = s.sandbox!.options.accessToken;

    // Nothing to refresh for a while: 10 days on, the token is left alone.
    clock.advance(10 * DAY);
    await new Promise((r) => setTimeout(r, 100));
    expect((await channelOf(s)).token).toMatchObject({ expiresInDays: 50, refreshedAt: null });
    expect(s.sandbox!.options.accessToken).toBe(first);

    clock.advance(40 * DAY);
    const refreshed = await until(
      () => channelOf(s),
      (c) => c.token.refreshedAt !== null,
      'the token refreshed',
    );
    expect(refreshed.token).toEqual({
      state: 'ok',
      expiresInDays: 60,
      expiresAt: new Date(START + 110 * DAY).toISOString(),
      refreshedAt: new Date(START + 50 * DAY).toISOString(),
      problem: null,
    });
    expect(JSON.stringify(refreshed)).not.toContain(s.sandbox!.options.accessToken);
    expect(s.sandbox!.options.accessToken).not.toBe(first);
    const refreshCalls = s.sandbox!.calls.list().filter((c) => c.edge === 'refresh_access_token');
    expect(refreshCalls.map((c) => [c.path, c.status])).toEqual([['/refresh_access_token', 200]]);

    // The next send goes with the new token (the sandbox takes no other now).
    const { igsid } = await s.customer({ from: 'Returning customer', text: 'still there?' });
    const sent = await s.send({ to: igsid, content: { type: 'text', text: 'yes, always' } });
    expect(sent.status).toBe(202);
    await s.waitMessage(sent.body.id);
    expect((await s.outbox()).at(-1)!.answer.status).toBe(200);
    expect((await channelOf(s)).status).toBe('ok');

    // The refresh is in the event log as channel.health, with the token's new expiry.
    const events = await eventsUntil(s, (es) =>
      es.some((e) => e.event === 'channel.health' && e.data.token?.refreshedAt),
    );
    const health = events.filter((e) => e.event === 'channel.health').at(-1);
    expect(health.data).toMatchObject({ channelId: 'default', status: 'ok', token: { expiresInDays: 60 } });
  });

  it('warns 7 days ahead when the token cannot be refreshed', async () => {
    const clock = new Clock();
    const lines: Json[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    svc = await startSandboxService({ clock, service: { tokenCheckEveryMs: 20 }, log });
    const s = svc;
    await until(
      () => channelOf(s),
      (c) => c.token.expiresInDays === 60,
      'the expiry from debug_token',
    );
    await s.inject({ kind: '5xx', count: 100_000, path: 'refresh_access_token' });

    clock.advance(45 * DAY);
    const failing = await until(
      () => channelOf(s),
      (c) => c.token.problem !== null,
      'a failed refresh',
    );
    // Failing, but not yet worth a warning: 15 days left, and igdm keeps trying.
    expect(failing.token).toMatchObject({ state: 'ok', expiresInDays: 15, refreshedAt: null });
    expect(failing.token.problem).toMatch(/^refresh_access_token: /);

    clock.advance(9 * DAY);
    const expiring = await until(
      () => channelOf(s),
      (c) => c.token.state === 'expiring',
      'the warning',
    );
    expect(expiring.token).toMatchObject({ expiresInDays: 6, refreshedAt: null });
    // Logged once as a warning (the checks go on every 20 ms), without the token.
    const warned = () => lines.filter((l) => /expires within 7 days/.test(l.msg));
    await until(warned, (w) => w.length > 0, 'the warning logged');
    await new Promise((r) => setTimeout(r, 100));
    const warnings = warned();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      level: 40,
      channel: 'default',
      problem: expect.stringMatching(/^refresh_access_token/),
    });
    expect(JSON.stringify(lines)).not.toContain(s.sandbox!.options.accessToken);
    const events = await eventsUntil(s, (es) =>
      es.some((e) => e.event === 'channel.health' && e.data.token?.state === 'expiring'),
    );
    expect(
      events.find((e) => e.event === 'channel.health' && e.data.token?.state === 'expiring').data,
    ).toMatchObject({ channelId: 'default', token: { state: 'expiring', expiresInDays: 6 } });

    // Meta answers again: the token is refreshed, and the warning ends.
    await s.json('/sandbox/failures', { method: 'DELETE' });
    const healed = await until(
      () => channelOf(s),
      (c) => c.token.state === 'ok',
      'refreshed after all',
    );
    expect(healed.token).toMatchObject({ expiresInDays: 60, problem: null });
  });
});

describe("the environment's channel", () => {
  it('a refreshed token is stored and wins over the unchanged environment token after a restart', async () => {
    const clock = new Clock();
    const port = await freePort();
    const sandbox = await runTestSandbox(port, { now: clock.now, appId: SANDBOX_APP_ID, expireTokens: true });
    const dir = mkdtempSync(join(tmpdir(), 'igdm-tokens-'));
    const env = {
      PORT: String(port),
      INSTAGRAM_GRAPH_API_URL: sandbox.graphApiUrl,
      META_APP_ID: SANDBOX_APP_ID,
    };
    const options = { now: clock.now, tokenCheckEveryMs: 20 };
    let igdm = await startTestService(env, dir, options);
    try {
      await until(
        () => channelOf(igdm),
        (c) => c.token.expiresInDays === 60,
        'the expiry',
      );
      clock.advance(50 * DAY);
      await until(
        () => channelOf(igdm),
        (c) => c.token.refreshedAt !== null,
        'refreshed',
      );
      const stored = await igdm.store.db
        .selectFrom('channels')
        .select('secrets')
        .where('id', '=', 'default')
        .executeTakeFirstOrThrow();
      expect(stored.secrets).not.toContain(sandbox.state.options.accessToken); // sealed
      await sandbox.state.delivery.settled();
      await igdm.stop();

      // Same environment (the old token): the refreshed one is still used.
      igdm = await startTestService(env, dir, options);
      expect((await channelOf(igdm)).token).toMatchObject({ state: 'ok', expiresInDays: 60 });
      const wrote = await fetch(`${sandbox.url}/sandbox/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ from: 'After the restart', text: 'hello' }),
      });
      const { igsid } = (await wrote.json()) as { igsid: string };
      await igdm.settled();
      const sent: Json = await (
        await igdm.api('/v1/messages', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ to: igsid, content: { type: 'text', text: 'welcome back' } }),
        })
      ).json();
      await until(
        async () => ((await (await igdm.api(`/v1/messages/${sent.id}`)).json()) as Json).status,
        (status) => status === 'sent' || status === 'failed',
        'sent',
      );
      expect(((await (await igdm.api(`/v1/messages/${sent.id}`)).json()) as Json).status).toBe('sent');
    } finally {
      await sandbox.state.delivery.settled();
      await igdm.stop();
      await sandbox.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the sandbox's refresh_access_token", () => {
  it('refreshes a token 24 h old, takes only the new one, and refuses an expired one', async () => {
    const clock = new Clock();
    const sandbox = await runTestSandbox(await freePort(), { now: clock.now, expireTokens: true });
    const root = sandbox.graphApiUrl;
    const get = async (path: string, token: string) => {
      const res = await fetch(`${root}/${path}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: (await res.json()) as Json };
    };
    try {
      const first = sandbox.state.options.accessToken;
      const refresh = (token: string) =>
        get(`refresh_access_token?grant_type=ig_refresh_token&access_token=${token}`, token);
      const young = await refresh(first);
      expect(young.status).toBe(400);
      expect(young.body.error.message).toMatch(/24 hours/);

      clock.advance(DAY);
      const ok = await refresh(first);
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({
        access_token: expect.any(String),
        token_type: 'bearer',
        expires_in: 5_184_000,
      });
      expect((await get('v24.0/me', first)).body.error.code).toBe(190);
      expect((await get('v24.0/me', ok.body.access_token)).status).toBe(200);

      clock.advance(60 * DAY);
      expect((await get('v24.0/me', ok.body.access_token)).body.error).toMatchObject({
        code: 190,
        error_subcode: 463,
      });
      expect((await refresh(ok.body.access_token)).body.error.code).toBe(190);
    } finally {
      await sandbox.close();
    }
  });
});
