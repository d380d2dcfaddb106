import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';

const creds = {
  META_APP_SECRET: 'secret',
  WEBHOOK_VERIFY_TOKEN: 'token',
  INSTAGRAM_USER_ID: '17841400000000001',
  INSTAGRAM_ACCESS_TOKEN: 'IGAA...',
};

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('configuration', () => {
  it('has working defaults with no environment at all', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 3000,
      databaseUrl: 'sqlite:./data/igdm.sqlite',
      redisUrl: null,
      channel: null,
    });
  });

  it('IGDM_ROLE: all by default; web and worker on PostgreSQL only; anything else is refused', () => {
    expect(loadConfig({}).role).toBe('all');
    const pg = { DATABASE_URL: 'postgres://igdm@db/igdm' };
    expect(loadConfig({ ...pg, IGDM_ROLE: 'web' }).role).toBe('web');
    expect(loadConfig({ ...pg, IGDM_ROLE: 'worker' }).role).toBe('worker');
    expect(loadConfig({ IGDM_ROLE: 'all' }).role).toBe('all');
    expect(problems({ IGDM_ROLE: 'web' })).toEqual([
      'IGDM_ROLE=web needs PostgreSQL: set DATABASE_URL=postgres://... (processes in several roles share one database), or run IGDM_ROLE=all (the default) on the embedded store',
    ]);
    expect(problems({ ...pg, IGDM_ROLE: 'api' })).toEqual([
      'IGDM_ROLE must be one of all, web, worker, got "api"',
    ]);
  });

  it('IGDM_MIN_FREE_DISK_MB: 64 MiB by default, 0 turns the check off, anything else is refused', () => {
    expect(loadConfig({}).minFreeDiskBytes).toBe(64 * 1024 * 1024);
    expect(loadConfig({ IGDM_MIN_FREE_DISK_MB: '0' }).minFreeDiskBytes).toBe(0);
    expect(problems({ IGDM_MIN_FREE_DISK_MB: '1GB' })).toEqual([
      'IGDM_MIN_FREE_DISK_MB must be a whole number of MiB (0 turns the check off)',
    ]);
  });

  it('IGDM_JOB_RETENTION_DAYS: 7 days by default, 0 keeps done jobs for ever, anything else is refused', () => {
    expect(loadConfig({}).jobRetentionDays).toBe(7);
    expect(loadConfig({ IGDM_JOB_RETENTION_DAYS: '30' }).jobRetentionDays).toBe(30);
    expect(loadConfig({ IGDM_JOB_RETENTION_DAYS: '0' }).jobRetentionDays).toBeNull();
    expect(loadConfig({}).deliveryRetentionDays).toBe(30);
    expect(loadConfig({ IGDM_DELIVERY_RETENTION_DAYS: '0' }).deliveryRetentionDays).toBeNull();
    expect(() => loadConfig({ IGDM_DELIVERY_RETENTION_DAYS: 'a month' })).toThrow(
      /IGDM_DELIVERY_RETENTION_DAYS/,
    );
    expect(problems({ IGDM_JOB_RETENTION_DAYS: 'a week' })).toEqual([
      'IGDM_JOB_RETENTION_DAYS must be a whole number of days (0 keeps done jobs for ever)',
    ]);
  });

  it('makes the default channel from the seed names', () => {
    const c = loadConfig(creds);
    expect(c.channel).toMatchObject({
      id: 'default',
      appSecret: 'secret',
      verifyToken: 'token',
      accountId: '17841400000000001',
      accessToken: 'IGAA...',
      graphApiUrl: 'https://graph.instagram.com',
      graphApiVersion: 'v24.0',
      allowSha1: false,
    });
  });

  it('accepts the aliases (the sandbox pair and the Facebook Login names)', () => {
    const c = loadConfig({
      INSTAGRAM_APP_SECRET: 's',
      WEBHOOK_VERIFY_TOKEN: 't',
      INSTAGRAM_ACCOUNT_ID: '123',
      PAGE_ACCESS_TOKEN: 'p',
      INSTAGRAM_API_URL: 'http://127.0.0.1:4000/',
    });
    expect(c.channel).toMatchObject({
      appSecret: 's',
      accountId: '123',
      accessToken: 'p',
      graphApiUrl: 'http://127.0.0.1:4000',
    });
  });

  it('IGDM_ENGINE_CONCURRENCY: 32 conversations at once by default, a whole number of at least 1', () => {
    expect(loadConfig({}).engineConcurrency).toBe(32);
    expect(loadConfig({ IGDM_ENGINE_CONCURRENCY: '4' }).engineConcurrency).toBe(4);
    expect(problems({ IGDM_ENGINE_CONCURRENCY: '0' })).toEqual([
      'IGDM_ENGINE_CONCURRENCY must be a whole number of at least 1',
    ]);
  });

  it('IGDM_REQUEST_TIMEOUT_MS (30 s, at least 1 s) and IGDM_MAX_CONNECTIONS (768) bound the HTTP server', () => {
    expect(loadConfig({})).toMatchObject({ requestTimeoutMs: 30_000, maxConnections: 768 });
    expect(loadConfig({ IGDM_REQUEST_TIMEOUT_MS: '5000', IGDM_MAX_CONNECTIONS: '4000' })).toMatchObject({
      requestTimeoutMs: 5000,
      maxConnections: 4000,
    });
    expect(problems({ IGDM_REQUEST_TIMEOUT_MS: '500' })).toEqual([
      'IGDM_REQUEST_TIMEOUT_MS must be at least 1000',
    ]);
    expect(problems({ IGDM_MAX_CONNECTIONS: 'many' })).toEqual([
      'IGDM_MAX_CONNECTIONS must be a whole number of at least 1',
    ]);
  });

  it('names every missing or malformed variable', () => {
    expect(problems({ PORT: 'eighty' })).toEqual([expect.stringContaining('PORT')]);
    expect(problems({ PORT: '70000' })).toEqual([expect.stringContaining('PORT')]);
    expect(problems({ DATABASE_URL: 'mysql://x' })).toEqual([expect.stringContaining('DATABASE_URL')]);
    expect(problems({ REDIS_URL: 'localhost:6379' })).toEqual([expect.stringContaining('REDIS_URL')]);
    expect(problems({ IGDM_API_KEY: 'short' })).toEqual([expect.stringContaining('IGDM_API_KEY')]);
    expect(problems({ IGDM_SECRET_KEY: 'abc' })).toEqual([expect.stringContaining('IGDM_SECRET_KEY')]);
    expect(problems({ ...creds, GRAPH_API_VERSION: '24' })).toEqual([
      expect.stringContaining('GRAPH_API_VERSION'),
    ]);
    expect(problems({ ...creds, INSTAGRAM_USER_ID: '@shop' })).toEqual([
      expect.stringContaining('INSTAGRAM_USER_ID'),
    ]);
    expect(problems({ ...creds, INSTAGRAM_GRAPH_API_URL: 'ftp://x' })).toEqual([
      expect.stringContaining('INSTAGRAM_GRAPH_API_URL'),
    ]);
  });

  it('asks for what the default channel cannot work without once any credential is set', () => {
    const p = problems({ INSTAGRAM_ACCESS_TOKEN: 'x' });
    expect(p).toHaveLength(3);
    expect(p.join('\n')).toMatch(/META_APP_SECRET/);
    expect(p.join('\n')).toMatch(/WEBHOOK_VERIFY_TOKEN/);
    expect(p.join('\n')).toMatch(/INSTAGRAM_USER_ID/);
  });

  it('never puts a secret value in an error message', () => {
    const p = problems({ META_APP_SECRET: 'super-secret-value', PORT: 'x' });
    expect(p.join('\n')).not.toContain('super-secret-value');
  });
});
