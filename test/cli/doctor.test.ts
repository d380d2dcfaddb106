import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSandboxServer, type SandboxServer } from '../../src/sandbox/index.ts';
import { type CommandRun, runCommand } from '../support/http.ts';

// `igdm doctor` as a child process on the pinned Node, against a standalone sandbox in this process.

const APP_SECRET = 'doctor-app-secret-5f1c';
const VERIFY_TOKEN = 'doctor-verify-token-9a2e';
const ACCESS_TOKEN = 'doctor-access-token-7d3b';
const ACCOUNT_ID = '17841400000000042';

type Run = CommandRun;

/** Only what is given here: no credential from the developer's environment leaks in. */
const igdm = (env: Record<string, string>, ...args: string[]): Promise<Run> =>
  runCommand(['doctor', ...args], {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    LOG_LEVEL: 'silent',
    ...env,
  });

const lineOf = (out: string, check: string) =>
  out.split('\n').find((l) => l.slice(2).startsWith(`${check}:`));

function expectNoSecrets(run: Run) {
  for (const secret of [ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN, 'wrong-token-0000']) {
    expect(run.stdout).not.toContain(secret);
    expect(run.stderr).not.toContain(secret);
  }
}

describe('igdm doctor', () => {
  let sandbox: SandboxServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    sandbox = await runSandboxServer({
      port: 0,
      host: '127.0.0.1',
      appSecret: APP_SECRET,
      accessToken: ACCESS_TOKEN,
      accountId: ACCOUNT_ID,
      webhookUrl: 'http://127.0.0.1:9/webhooks/meta',
    });
    env = {
      META_APP_SECRET: APP_SECRET,
      WEBHOOK_VERIFY_TOKEN: VERIFY_TOKEN,
      INSTAGRAM_ACCESS_TOKEN: ACCESS_TOKEN,
      INSTAGRAM_USER_ID: ACCOUNT_ID,
      INSTAGRAM_GRAPH_API_URL: sandbox.graphApiUrl,
      HOST: '127.0.0.1',
      PORT: '3456',
    };
  });
  afterAll(() => sandbox?.close());

  it('finds the missing webhook subscription, fixes it with --fix, then passes every check', async () => {
    expect(sandbox.state.subscribedFields).toEqual([]);

    const before = await igdm(env);
    expect(before.code).toBe(1);
    for (const check of ['configuration', 'Graph API', 'token', 'account', 'permissions'])
      expect(lineOf(before.stdout, check)).toMatch(/^✓/);
    expect(lineOf(before.stdout, 'token')).toContain('@igdm.sandbox');
    expect(lineOf(before.stdout, 'webhook subscription')).toMatch(/^✗ .*not subscribed to messages/);
    expect(before.stdout).toContain('igdm doctor --fix');
    expectNoSecrets(before);

    const fixed = await igdm(env, '--fix');
    expect(fixed.stdout).toMatch(/✓ webhook subscription: fixed/);
    expect(fixed.code).toBe(0);
    expect(sandbox.state.subscribedFields).toEqual(
      expect.arrayContaining([
        'messages',
        'messaging_postbacks',
        'message_reactions',
        'messaging_seen',
        'messaging_referral',
      ]),
    );
    expectNoSecrets(fixed);

    const after = await igdm(env);
    expect(after.code, after.stdout + after.stderr).toBe(0);
    const checks = after.stdout.split('\n').filter((l) => /^[✓✗-] /.test(l));
    expect(checks).toHaveLength(6);
    for (const l of checks) expect(l).toMatch(/^✓/);
    expect(after.stdout).toContain('Callback URL:  http://127.0.0.1:3456/webhooks/meta');
    expect(after.stdout).toContain('WEBHOOK_VERIFY_TOKEN');
    expect(after.stdout).toContain('All checks passed.');
    expectNoSecrets(after);
  });

  it('uses PUBLIC_URL for the callback URL', async () => {
    const run = await igdm({ ...env, PUBLIC_URL: 'https://dm.example.com/' });
    expect(run.stdout).toContain('Callback URL:  https://dm.example.com/webhooks/meta');
    expect(run.stdout).toContain('  https://dm.example.com/meta/data-deletion');
    expectNoSecrets(run);
  });

  it('with META_APP_ID, says when the token expires, and fails within 7 days of it', async () => {
    const withApp = { ...env, META_APP_ID: sandbox.state.options.appId };
    const run = await igdm(withApp);
    expect(lineOf(run.stdout, 'token expiry')).toMatch(
      /^✓ token expiry: expires in (59|60) days \(\d{4}-\d\d-\d\d\)/,
    );
    expectNoSecrets(run);

    const life = { ...sandbox.state.token };
    sandbox.state.token.expiresAt = Date.now() + 3 * 86_400_000 + 60_000;
    try {
      const soon = await igdm(withApp);
      expect(lineOf(soon.stdout, 'token expiry')).toMatch(/^✗ token expiry: expires in 3 days/);
      expect(soon.stdout).toContain('create a new long-lived token and set INSTAGRAM_ACCESS_TOKEN');
      expect(soon.code).toBe(1);
      expectNoSecrets(soon);
    } finally {
      Object.assign(sandbox.state.token, life);
    }
  });

  it('says how to replace a wrong token, and exits 1', async () => {
    const run = await igdm({ ...env, INSTAGRAM_ACCESS_TOKEN: 'wrong-token-0000' });
    expect(run.code).toBe(1);
    expect(lineOf(run.stdout, 'Graph API')).toMatch(/^✓/);
    expect(lineOf(run.stdout, 'token')).toMatch(/^✗ token: the token is invalid or expired/);
    expect(run.stdout).toContain('create a new long-lived token and set INSTAGRAM_ACCESS_TOKEN');
    expectNoSecrets(run);
  });

  it('names the account id the token belongs to when INSTAGRAM_USER_ID differs', async () => {
    const run = await igdm({ ...env, INSTAGRAM_USER_ID: '17841400000000999' });
    expect(run.code).toBe(1);
    expect(lineOf(run.stdout, 'account')).toMatch(/^✗ .*17841400000000999/);
    expect(run.stdout).toContain(`set INSTAGRAM_USER_ID=${ACCOUNT_ID}`);
  });

  it('says when the Graph API cannot be reached', async () => {
    const run = await igdm({ ...env, INSTAGRAM_GRAPH_API_URL: 'http://127.0.0.1:9' });
    expect(run.code).toBe(1);
    expect(lineOf(run.stdout, 'Graph API')).toMatch(/^✗ Graph API: no answer from http:\/\/127\.0\.0\.1:9/);
    expect(run.stdout).toContain('INSTAGRAM_GRAPH_API_URL');
    expectNoSecrets(run);
  });

  it('names the invalid variables of a broken configuration', async () => {
    const run = await igdm({ ...env, WEBHOOK_VERIFY_TOKEN: '' });
    expect(run.code).toBe(1);
    expect(lineOf(run.stdout, 'configuration')).toMatch(/^✗/);
    expect(run.stdout).toContain('WEBHOOK_VERIFY_TOKEN is required');
    expectNoSecrets(run);
  });

  it('without credentials, says igdm would run in sandbox mode and what connects an account', async () => {
    const run = await igdm({});
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('sandbox mode');
    for (const name of [
      'META_APP_SECRET',
      'WEBHOOK_VERIFY_TOKEN',
      'INSTAGRAM_ACCESS_TOKEN',
      'INSTAGRAM_USER_ID',
    ])
      expect(run.stdout).toContain(name);
  });
});
