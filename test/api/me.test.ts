import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandboxService } from '../send/support.ts';
import { callApi, startTestService, type TestService } from '../support/service.ts';

// GET /v1/me: who the caller's key is, as the inbox asks at sign-in; and whether igdm runs its
// sandbox (the inbox then shows its "simulate a customer" panel).

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.stop());

describe('GET /v1/me', () => {
  it('answers IGDM_API_KEY as every scope, every channel; no sandbox with credentials', async () => {
    const me = await callApi(svc, 'GET', '/v1/me');
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      keyId: null,
      name: 'IGDM_API_KEY',
      agent: null,
      scopes: ['read', 'send', 'admin'],
      channels: null,
      sandbox: false,
    });
  });

  it('answers a key made through the API with its name, agent, scopes and channels, never the key', async () => {
    const made = await callApi(svc, 'POST', '/v1/api-keys', {
      body: { name: 'Maria in the inbox', agent: 'Maria', channels: ['default'], scopes: ['send', 'read'] },
    });
    expect(made.status).toBe(201);
    const me = await callApi(svc, 'GET', '/v1/me', { key: made.body.key });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      keyId: made.body.id,
      name: 'Maria in the inbox',
      agent: 'Maria',
      scopes: ['read', 'send'],
      channels: ['default'],
      sandbox: false,
    });
    expect(JSON.stringify(me.body)).not.toContain(made.body.key);
  });

  it('needs the read scope, and a key in force', async () => {
    const sender = await callApi(svc, 'POST', '/v1/api-keys', { body: { name: 'bot', scopes: ['send'] } });
    const refused = await callApi(svc, 'GET', '/v1/me', { key: sender.body.key });
    expect([refused.status, refused.body.error.code]).toEqual([403, 'forbidden']);
    const wrong = await callApi(svc, 'GET', '/v1/me', { key: 'igdm_not_a_key' });
    expect([wrong.status, wrong.body.error.code]).toEqual([401, 'unauthorized']);
  });

  it('says sandbox: true when igdm runs its sandbox', async () => {
    const sandboxed = await startSandboxService();
    try {
      expect((await callApi(sandboxed, 'GET', '/v1/me')).body).toMatchObject({ sandbox: true });
    } finally {
      await sandboxed.stop();
    }
  });
});
