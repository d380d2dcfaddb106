import { z } from 'zod';
import { META_LIMITS, type RateLimits } from './graph/rate-limit.ts';

// The service is configured from the environment, with the names the seed documents use and their
// aliases. Everything is checked at start; a problem is reported by the variable's name.

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

export interface ChannelSettings {
  id: string;
  appSecret: string;
  verifyToken: string;
  accessToken: string | null;
  accountId: string | null;
  pageId: string | null;
  graphApiUrl: string;
  graphApiVersion: string;
  allowSha1: boolean;
  /** META_APP_ID: the app's id, for debug_token (the token's expiry). */
  appId: string | null;
}

/** What a process runs (docs/postgres.md, Roles): everything, the HTTP app only, or the work only. */
export type Role = 'all' | 'web' | 'worker';
export const ROLES: readonly Role[] = ['all', 'web', 'worker'];

export interface Config {
  /** IGDM_ROLE (or `igdm start --role`): `web` and `worker` need PostgreSQL. */
  role: Role;
  port: number;
  host: string;
  databaseUrl: string;
  /**
   * IGDM_DATA_DIR: on PostgreSQL, where `secret.key` and the kept media go (the embedded store keeps
   * them beside its file).
   */
  dataDir: string;
  redisUrl: string | null;
  apiKey: string | null;
  configPath: string | null;
  secretKey: string | null;
  logLevel: string;
  /** The `default` channel, when credentials are set. */
  channel: ChannelSettings | null;
  /** GRAPH_API_VERSION: for every channel whose Graph API URL names no version. */
  graphApiVersion: string;
  /** Send rate limits per account: Meta's, and the operator's own caps. */
  rateLimits: RateLimits;
  /** The limits the sandbox enforces as Meta would (sandbox mode only). */
  sandboxRates: { sendPerSecond: number; mediaPerSecond: number };
  /** How long a Send API call may take before it counts as failed (and is retried). */
  graphTimeoutMs: number;
  /** How long a send interrupted by a crash waits for its echo before it is sent again. */
  echoGraceMs: number;
  /** Send API calls in flight at once (to different customers). */
  sendConcurrency: number;
  /** Conversations the engine handles at once (each one's events one at a time, in order). */
  engineConcurrency: number;
  /** Done jobs are deleted this many days after they finished (null: kept for ever). */
  jobRetentionDays: number | null;
  /** Settled webhook deliveries (and their attempts) are deleted this many days after; null keeps them. */
  deliveryRetentionDays: number | null;
  /** Copies of inbound media (media/keeper.ts): all of them, and one file, at most (bytes). */
  mediaMaxBytes: number;
  mediaMaxFileBytes: number;
  /** Conversation routing: the app that takes a conversation handed to a human (e.g. an inbox app). */
  handoverAppId: string | null;
  /** HTTP: the whole request, headers and body, must arrive within this. */
  requestTimeoutMs: number;
  /** HTTP: connections held at once (below the process's open-file limit). */
  maxConnections: number;
  /** /readyz reports not ready while the store's disk has less free space than this. */
  minFreeDiskBytes: number;
  /** PUBLIC_URL: where Meta and people reach igdm (the data deletion status URL); null: the request's host. */
  publicUrl: string | null;
  /** Catching up on missed webhooks (src/backfill/): at start, and every N minutes (0: never). */
  backfill: { onStart: boolean; intervalMinutes: number };
}

type Env = Record<string, string | undefined>;

/** The first set variable among a name and its aliases, with the name it was found under. */
function pick(env: Env, ...names: string[]): { name: string; value: string } | null {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return { name, value };
  }
  return null;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];

  const portText = pick(env, 'PORT')?.value ?? '3000';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535)
    problems.push(`PORT must be a port number (0-65535), got "${portText}"`);

  const databaseUrl = pick(env, 'DATABASE_URL')?.value ?? 'sqlite:./data/igdm.sqlite';
  if (!/^sqlite:.+/.test(databaseUrl) && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must be sqlite:PATH (e.g. sqlite:./data/igdm.sqlite) or postgres://...');
  }

  const role = (pick(env, 'IGDM_ROLE')?.value ?? 'all') as Role;
  if (!ROLES.includes(role)) problems.push(`IGDM_ROLE must be one of ${ROLES.join(', ')}, got "${role}"`);
  else if (role !== 'all' && !/^postgres(ql)?:\/\//.test(databaseUrl))
    problems.push(
      `IGDM_ROLE=${role} needs PostgreSQL: set DATABASE_URL=postgres://... (processes in several roles share one database), or run IGDM_ROLE=all (the default) on the embedded store`,
    );

  const redisUrl = pick(env, 'REDIS_URL')?.value ?? null;
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl))
    problems.push('REDIS_URL must start with redis:// or rediss://');

  const apiKey = pick(env, 'IGDM_API_KEY')?.value ?? null;
  if (apiKey && apiKey.length < 16) problems.push('IGDM_API_KEY must be at least 16 characters long');

  const publicUrl = pick(env, 'PUBLIC_URL')?.value.replace(/\/+$/, '') ?? null;
  if (publicUrl && !z.url({ protocol: /^https?$/ }).safeParse(publicUrl).success)
    problems.push('PUBLIC_URL must be an http(s) URL');

  const logLevel = pick(env, 'LOG_LEVEL')?.value ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  const secretKey = pick(env, 'IGDM_SECRET_KEY')?.value ?? null;
  if (secretKey && !/^[0-9a-fA-F]{64}$/.test(secretKey)) {
    problems.push(
      'IGDM_SECRET_KEY must be 64 hex characters (32 bytes); generate one with: openssl rand -hex 32',
    );
  }

  const graphApiVersion = pick(env, 'GRAPH_API_VERSION')?.value ?? 'v24.0';
  if (!/^v\d+\.\d+$/.test(graphApiVersion))
    problems.push(`GRAPH_API_VERSION must look like v24.0, got "${graphApiVersion}"`);
  const channel = loadChannel(env, graphApiVersion, problems);
  const rate = (name: string, fallback?: number) => {
    const v = pick(env, name)?.value;
    if (v === undefined) return fallback;
    if (!/^\d+$/.test(v) || Number(v) < 1) problems.push(`${name} must be a whole number of at least 1`);
    return Number(v);
  };
  const rateLimits: RateLimits = {
    sendPerSecond: rate('IGDM_RATE_SEND_PER_SECOND', META_LIMITS.sendPerSecond)!,
    mediaPerSecond: rate('IGDM_RATE_MEDIA_PER_SECOND', META_LIMITS.mediaPerSecond)!,
    perMinute: rate('IGDM_RATE_PER_MINUTE'),
    perHour: rate('IGDM_RATE_PER_HOUR'),
    perRecipientPerDay: rate('IGDM_RATE_PER_RECIPIENT_PER_DAY'),
  };
  const graphTimeoutMs = rate('IGDM_GRAPH_TIMEOUT_MS', 10_000)!;
  const echoGraceMs = rate('IGDM_ECHO_GRACE_MS', 20_000)!;
  const sendConcurrency = rate('IGDM_SEND_CONCURRENCY', 32)!;
  const engineConcurrency = rate('IGDM_ENGINE_CONCURRENCY', 32)!;
  /** Days to keep what is done (0: for ever → null). */
  const days = (name: string, fallback: number, what: string) => {
    const value = pick(env, name)?.value;
    if (value !== undefined && !/^\d+$/.test(value))
      problems.push(`${name} must be a whole number of days (0 keeps ${what} for ever)`);
    return value === undefined ? fallback : Number(value) === 0 ? null : Number(value);
  };
  const jobRetentionDays = days('IGDM_JOB_RETENTION_DAYS', 7, 'done jobs');
  const deliveryRetentionDays = days('IGDM_DELIVERY_RETENTION_DAYS', 30, 'settled webhook deliveries');
  /** Copies of inbound media: MiB for all of them (0: none kept), and for one file. */
  const mediaMaxRaw = pick(env, 'IGDM_MEDIA_MAX_MB')?.value ?? '1024';
  if (!/^\d+$/.test(mediaMaxRaw))
    problems.push('IGDM_MEDIA_MAX_MB must be a whole number of MiB (0 keeps no copies of media)');
  const mediaMaxMb = Number(mediaMaxRaw);
  const mediaMaxFileMb = rate('IGDM_MEDIA_MAX_FILE_MB', 25)!;
  const handoverAppId = pick(env, 'IGDM_HANDOVER_APP_ID')?.value ?? null;
  if (handoverAppId && !/^\d+$/.test(handoverAppId))
    problems.push(`IGDM_HANDOVER_APP_ID must be a numeric Meta app id, got "${handoverAppId}"`);
  // Meta gives up on a delivery after 20 s: a body still arriving after 30 s is not Meta's.
  const requestTimeoutMs = rate('IGDM_REQUEST_TIMEOUT_MS', 30_000)!;
  if (requestTimeoutMs >= 1 && requestTimeoutMs < 1000)
    problems.push('IGDM_REQUEST_TIMEOUT_MS must be at least 1000');
  // Below a limit of 1024 open files, with room for igdm's own (~35: the store, the worker, pipes)
  // and its outgoing calls.
  const maxConnections = rate('IGDM_MAX_CONNECTIONS', 768)!;
  const minFreeDisk = pick(env, 'IGDM_MIN_FREE_DISK_MB')?.value ?? '64';
  if (!/^\d+$/.test(minFreeDisk))
    problems.push(`IGDM_MIN_FREE_DISK_MB must be a whole number of MiB (0 turns the check off)`);
  const sandboxRates = {
    sendPerSecond: rate('SANDBOX_SEND_PER_SECOND', META_LIMITS.sendPerSecond)!,
    mediaPerSecond: rate('SANDBOX_MEDIA_PER_SECOND', META_LIMITS.mediaPerSecond)!,
  };
  const backfillEvery = pick(env, 'IGDM_BACKFILL_INTERVAL_MINUTES')?.value ?? '15';
  if (!/^\d+(\.\d+)?$/.test(backfillEvery))
    problems.push('IGDM_BACKFILL_INTERVAL_MINUTES must be a number of minutes (0 turns it off)');
  const backfillOnStart = pick(env, 'IGDM_BACKFILL_ON_START')?.value ?? 'true';
  if (!['true', 'false', '1', '0'].includes(backfillOnStart))
    problems.push('IGDM_BACKFILL_ON_START must be true or false');
  if (problems.length) throw new ConfigError(problems);
  return {
    role,
    port,
    host: pick(env, 'HOST')?.value ?? '0.0.0.0',
    databaseUrl,
    dataDir: pick(env, 'IGDM_DATA_DIR')?.value ?? './data',
    redisUrl,
    apiKey,
    configPath: pick(env, 'IGDM_CONFIG')?.value ?? null,
    secretKey,
    logLevel,
    channel,
    graphApiVersion,
    rateLimits,
    sandboxRates,
    graphTimeoutMs,
    echoGraceMs,
    sendConcurrency,
    engineConcurrency,
    jobRetentionDays,
    deliveryRetentionDays,
    mediaMaxBytes: mediaMaxMb * 1024 * 1024,
    mediaMaxFileBytes: mediaMaxFileMb * 1024 * 1024,
    handoverAppId,
    requestTimeoutMs,
    maxConnections,
    minFreeDiskBytes: Number(minFreeDisk) * 1024 * 1024,
    publicUrl,
    backfill: {
      onStart: backfillOnStart === 'true' || backfillOnStart === '1',
      intervalMinutes: Number(backfillEvery),
    },
  };
}

const CREDENTIALS = {
  appSecret: ['META_APP_SECRET', 'INSTAGRAM_APP_SECRET'],
  verifyToken: ['WEBHOOK_VERIFY_TOKEN'],
  accessToken: ['INSTAGRAM_ACCESS_TOKEN', 'PAGE_ACCESS_TOKEN'],
  accountId: ['INSTAGRAM_USER_ID', 'INSTAGRAM_ACCOUNT_ID'],
  pageId: ['INSTAGRAM_PAGE_ID'],
} as const;

function loadChannel(env: Env, version: string, problems: string[]): ChannelSettings | null {
  const found = Object.fromEntries(
    Object.entries(CREDENTIALS).map(([key, names]) => [key, pick(env, ...names)]),
  ) as Record<keyof typeof CREDENTIALS, { name: string; value: string } | null>;
  if (Object.values(found).every((v) => v === null)) return null;

  // Some credentials are set: the `default` channel is wanted, so what it cannot work without must be set.
  const missing = (key: keyof typeof CREDENTIALS) => {
    if (!found[key])
      problems.push(`${CREDENTIALS[key].join(' (or ')}${CREDENTIALS[key].length > 1 ? ')' : ''} is required`);
  };
  missing('appSecret');
  missing('verifyToken');
  if (!found.accountId && !found.pageId) {
    problems.push('INSTAGRAM_USER_ID (or INSTAGRAM_ACCOUNT_ID, or INSTAGRAM_PAGE_ID) is required');
  }
  for (const key of ['accountId', 'pageId'] as const) {
    const v = found[key];
    if (v && !/^\d+$/.test(v.value)) problems.push(`${v.name} must be a numeric id, got "${v.value}"`);
  }

  const url = pick(env, 'INSTAGRAM_GRAPH_API_URL', 'INSTAGRAM_API_URL');
  const graphApiUrl = (url?.value ?? 'https://graph.instagram.com').replace(/\/+$/, '');
  if (!z.url({ protocol: /^https?$/ }).safeParse(graphApiUrl).success) {
    problems.push(`${url?.name ?? 'INSTAGRAM_GRAPH_API_URL'} must be an http(s) URL`);
  }

  const appId = pick(env, 'META_APP_ID');
  if (appId && !/^\d+$/.test(appId.value))
    problems.push(`${appId.name} must be a numeric id, got "${appId.value}"`);

  const allowSha1 = pick(env, 'WEBHOOK_ALLOW_SHA1')?.value ?? 'false';
  if (!['true', 'false', '1', '0'].includes(allowSha1))
    problems.push('WEBHOOK_ALLOW_SHA1 must be true or false');

  return {
    id: 'default',
    appSecret: found.appSecret?.value ?? '',
    verifyToken: found.verifyToken?.value ?? '',
    accessToken: found.accessToken?.value ?? null,
    accountId: found.accountId?.value ?? null,
    pageId: found.pageId?.value ?? null,
    graphApiUrl,
    graphApiVersion: version,
    allowSha1: allowSha1 === 'true' || allowSha1 === '1',
    appId: appId?.value ?? null,
  };
}
