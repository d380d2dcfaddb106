import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../support/service.ts';

// igdm serves the built inbox at /: long-cached hashed assets, index.html revalidated, client
// routes answered with the app, igdm's own routes untouched; without a build, a page saying how.

const HTML = { accept: 'text/html,application/xhtml+xml' };
const INDEX = '<!doctype html><title>inbox</title><script type="module" src="/assets/app-Ab12.js"></script>';
const SCRIPT = 'console.log("inbox")';

function fakeBuild(): string {
  const dir = mkdtempSync(join(tmpdir(), 'igdm-inbox-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), INDEX);
  writeFileSync(join(dir, 'assets', 'app-Ab12.js'), SCRIPT);
  writeFileSync(join(dir, 'assets', 'app-Ab12.js.gz'), gzipSync(SCRIPT));
  return dir;
}

describe('the inbox, built', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({}, undefined, { inboxDir: fakeBuild() });
  });
  afterAll(() => svc?.stop());

  it('answers / with index.html, revalidated each time, scripts only from igdm', async () => {
    const res = await fetch(`${svc.url}/`, { headers: HTML });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await res.text()).toBe(INDEX);
  });

  it('caches hashed assets for a year, compressed for browsers that take it', async () => {
    const res = await fetch(`${svc.url}/assets/app-Ab12.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('content-type')).toMatch(/javascript/);
    expect(res.headers.get('content-encoding')).toBe('gzip'); // fetch asks for gzip and unpacks it
    expect(await res.text()).toBe(SCRIPT);
  });

  it('answers the app for its own pages (a reload on a conversation)', async () => {
    const res = await fetch(`${svc.url}/conversations/cnv_1?x=1`, { headers: HTML });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(await res.text()).toBe(INDEX);
  });

  it("leaves igdm's routes and their JSON 404 alone", async () => {
    for (const path of ['/v1/nothing', '/sandbox/nothing', '/webhooks/nothing', '/assets/missing.js']) {
      const res = await fetch(`${svc.url}${path}`, { headers: HTML });
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code, path).toBe('not_found');
    }
    // Not a browser asking for a page: the API's 404.
    const api = await fetch(`${svc.url}/somewhere`);
    expect(api.status).toBe(404);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe('not_found');
    const health = await fetch(`${svc.url}/healthz`, { headers: HTML });
    expect(health.status).toBe(200);
    expect(health.headers.get('content-type')).toMatch(/json/);
    const docs = await fetch(`${svc.url}/openapi.json`, { headers: HTML });
    expect(((await docs.json()) as { openapi: string }).openapi).toBe('3.1.0');
    const conversations = await svc.api('/v1/conversations');
    expect(conversations.status).toBe(200);
  });
});

describe('the inbox, not built', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({}, undefined, { inboxDir: join(tmpdir(), 'igdm-no-inbox-here') });
  });
  afterAll(() => svc?.stop());

  it('answers / with a page that says how to build it', async () => {
    const res = await fetch(`${svc.url}/`, { headers: HTML });
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('The inbox is not built');
    expect(page).toContain('npm run build --workspace @igdm/web');
    expect((await svc.api('/v1/conversations')).status).toBe(200);
  });
});
