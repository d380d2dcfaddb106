import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSandboxServer, type SandboxServer } from '../../src/sandbox/index.ts';
import { freePort } from '../support/http.ts';
import { ACCOUNT_ID, APP_SECRET, startTestService, type TestService } from '../support/service.ts';

// igdm with credentials set and a standalone sandbox as its Graph API, on a store that survives
// restarts (the sandbox, and so the customers it knows, outlives each igdm).

export const TOKEN = 'test-access-token'; // testEnv's INSTAGRAM_ACCESS_TOKEN

export interface Stack {
  sandbox: SandboxServer;
  svc: TestService;
  dir: string;
  port: number;
  env: Record<string, string>;
}

/** A standalone sandbox for the test service's account, delivering webhooks to igdm on `port`. */
export function runTestSandbox(
  port: number,
  options: Partial<Parameters<typeof runSandboxServer>[0]> = {},
): Promise<SandboxServer> {
  return runSandboxServer({
    port: 0,
    host: '127.0.0.1',
    appSecret: APP_SECRET,
    accessToken: TOKEN,
    accountId: ACCOUNT_ID,
    webhookUrl: `http://127.0.0.1:${port}/webhooks/meta`,
    ...options,
  });
}

export async function startStack(
  opts: { sendRatePerSecond?: number; env?: Record<string, string> } = {},
): Promise<Stack> {
  const port = await freePort();
  const sandbox = await runTestSandbox(port, {
    ...(opts.sendRatePerSecond !== undefined && { sendRatePerSecond: opts.sendRatePerSecond }),
  });
  const dir = mkdtempSync(join(tmpdir(), 'igdm-stack-'));
  const env = { PORT: String(port), INSTAGRAM_GRAPH_API_URL: sandbox.graphApiUrl, ...opts.env };
  return { sandbox, dir, port, env, svc: await startTestService(env, dir) };
}

/**
 * Stops igdm once the sandbox's webhook deliveries are done: one still in flight when igdm closes
 * keeps its connection (and so the close) open for Fastify's keep-alive timeout.
 */
export async function stopIgdm(s: Stack): Promise<void> {
  await s.sandbox.state.delivery.settled();
  await s.svc.stop();
}

export async function restartIgdm(s: Stack): Promise<TestService> {
  // The store was written before: its integrity check goes on in the background (restarts are what
  // these tests time, not the check).
  s.svc = await startTestService(s.env, s.dir, { integrityBudgetMs: 0 });
  return s.svc;
}

/** igdm stopped, the sandbox closed, the store deleted. */
export async function closeStack(s: Stack): Promise<void> {
  await stopIgdm(s);
  await s.sandbox.close();
  rmSync(s.dir, { recursive: true, force: true });
}

/** A simulated customer writes; resolves once igdm has applied it. */
export async function customerWrites(s: Stack, name: string): Promise<string> {
  const res = await fetch(`${s.sandbox.url}/sandbox/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ from: name, text: 'hi' }),
  });
  const { igsid } = (await res.json()) as { igsid: string };
  await s.svc.settled();
  return igsid;
}
