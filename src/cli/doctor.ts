import { parseArgs } from 'node:util';
import { type ChannelSettings, type Config, ConfigError, loadConfig } from '../config.ts';
import { GraphClient, GraphError } from '../graph/client.ts';
import type { GraphFailure } from '../meta/graph-errors.ts';

// `igdm doctor`: checks the configured account against Meta (configuration, reachability, token,
// account, permissions, webhook subscription) and says, for each failed check, what to do about it.
// One line per check; exit 0 when all pass, 1 otherwise. No secret value is ever printed.

/** The webhook fields igdm needs: messages, and the events it turns into conversation state. */
export const WEBHOOK_FIELDS = [
  'messages',
  'messaging_postbacks',
  'message_reactions',
  'messaging_seen',
  'messaging_referral',
];

type Env = Record<string, string | undefined>;

interface Output {
  write(text: string): unknown;
}

class Report {
  failed = false;
  readonly #out: Output;
  readonly #secrets: string[];
  constructor(out: Output, secrets: (string | null | undefined)[]) {
    this.#out = out;
    // Longest first, so a secret containing another is hidden whole.
    this.#secrets = secrets
      .filter((s): s is string => !!s && s.length >= 4)
      .sort((a, b) => b.length - a.length);
  }
  line(text: string) {
    let safe = text;
    for (const s of this.#secrets) safe = safe.split(s).join('[hidden]');
    this.#out.write(`${safe}\n`);
  }
  pass(name: string, detail: string) {
    this.line(`✓ ${name}: ${detail}`);
  }
  fail(name: string, problem: string, fix: string) {
    this.failed = true;
    this.line(`✗ ${name}: ${problem}`);
    this.line(`    → ${fix}`);
  }
  skip(name: string, why: string) {
    this.failed = true;
    this.line(`- ${name}: not checked (${why})`);
  }
}

/** A URL for display: no user, password or query (which could hold a token). */
function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString().replace(/\/+$/, '');
  } catch {
    return url;
  }
}

const failureOf = (err: unknown): GraphFailure | null => (err instanceof GraphError ? err.failure : null);
const unreachable = (f: GraphFailure) => ['network_error', 'timeout', 'connection_lost'].includes(f.reason);
const tokenProblem = (f: GraphFailure) => f.action === 'reauthorize';
const permissionProblem = (f: GraphFailure) =>
  f.reason === 'permission_missing' || (f.code !== undefined && f.code >= 200 && f.code <= 299);
const metaSays = (f: GraphFailure) =>
  `Meta answered: ${f.message}${f.code !== undefined ? ` (code ${f.code})` : ''}`;

/** Subscribed field names from GET subscribed_apps: data[].subscribed_fields, strings or {name}. */
function subscribedFields(body: unknown): string[] {
  const data = (body as { data?: unknown } | undefined)?.data;
  const fields = new Set<string>();
  if (!Array.isArray(data)) return [];
  for (const app of data) {
    const list = (app as { subscribed_fields?: unknown } | null)?.subscribed_fields;
    if (!Array.isArray(list)) continue;
    for (const f of list) {
      if (typeof f === 'string') fields.add(f);
      else if (f && typeof (f as { name?: unknown }).name === 'string')
        fields.add((f as { name: string }).name);
    }
  }
  return [...fields];
}

export async function doctor(
  args: string[],
  env: Env = process.env,
  out: Output = process.stdout,
): Promise<number> {
  const { values } = parseArgs({ args, options: { fix: { type: 'boolean', default: false } } });

  // 1. Configuration.
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const report = new Report(out, []);
    report.fail(
      'configuration',
      'some settings are missing or wrong',
      'fix these variables, then run igdm doctor again:',
    );
    for (const p of err.problems) report.line(`      - ${p}`);
    return 1;
  }
  const c = config.channel;
  if (!c) {
    out.write(
      'No Instagram account is configured: igdm would run in sandbox mode, with simulated customers and no real messages.\n' +
        'To connect a real Instagram professional account, set:\n' +
        '  META_APP_SECRET         your Meta app secret (App settings → Basic)\n' +
        '  WEBHOOK_VERIFY_TOKEN    a phrase of your choice, also entered in the Meta dashboard\n' +
        '  INSTAGRAM_ACCESS_TOKEN  a long-lived access token for the account\n' +
        '  INSTAGRAM_USER_ID       the Instagram professional account id (or INSTAGRAM_PAGE_ID with Facebook Login)\n' +
        'then run igdm doctor again.\n',
    );
    return 0;
  }

  const report = new Report(out, [
    c.accessToken,
    c.appSecret,
    c.verifyToken,
    config.apiKey,
    config.secretKey,
  ]);
  const client = new GraphClient(c, { timeoutMs: 10_000 });
  const facebookLogin = c.pageId !== null && client.sender === c.pageId;
  const login = facebookLogin ? 'Facebook Login' : 'Instagram Login';
  report.pass('configuration', `valid (${login})`);

  const ok = await checkGraph(report, client, c, facebookLogin, values.fix === true);
  if (!ok) report.failed = true;
  webhookInfo(report, config, env);
  report.line(report.failed ? '\nSome checks failed: see the → lines above.' : '\nAll checks passed.');
  return report.failed ? 1 : 0;
}

async function checkGraph(
  report: Report,
  client: GraphClient,
  c: ChannelSettings,
  facebookLogin: boolean,
  fix: boolean,
): Promise<boolean> {
  const base = displayUrl(client.base);
  const later = ['account', 'permissions', 'webhook subscription'];
  const tokenVar = facebookLogin ? 'INSTAGRAM_ACCESS_TOKEN (or PAGE_ACCESS_TOKEN)' : 'INSTAGRAM_ACCESS_TOKEN';

  if (!c.accessToken) {
    report.skip('Graph API', 'no access token');
    report.fail(
      'token',
      'no access token is set',
      `create a long-lived access token for the account in the Meta dashboard and set ${tokenVar}`,
    );
    for (const name of later) report.skip(name, 'needs a working token');
    return false;
  }

  // 2 and 3. Reachability and the token, with one call: who the token belongs to.
  let me: { id?: string; user_id?: string | number; username?: string; name?: string };
  try {
    me = (
      await client.call<typeof me>('GET', 'me', {
        operation: 'account',
        query: { fields: facebookLogin ? 'id,name' : 'user_id,username' },
      })
    ).data;
  } catch (err) {
    const f = failureOf(err);
    if (!f) throw err;
    if (unreachable(f)) {
      report.fail(
        'Graph API',
        `no answer from ${base} (${f.reason === 'timeout' ? 'timed out' : 'could not connect'})`,
        'check that this machine can reach the internet, and that INSTAGRAM_GRAPH_API_URL and GRAPH_API_VERSION are right (or unset, for Meta’s defaults)',
      );
    } else if (f.code === undefined) {
      report.fail(
        'Graph API',
        `${base} answered, but not like Meta’s Graph API (${f.message})`,
        'check INSTAGRAM_GRAPH_API_URL and GRAPH_API_VERSION (or unset them, for Meta’s defaults)',
      );
    }
    if (unreachable(f) || f.code === undefined) {
      report.skip('token', 'needs the Graph API');
    } else {
      report.pass('Graph API', `reachable at ${base}`);
      if (tokenProblem(f) || f.code === 104) {
        report.fail(
          'token',
          'the token is invalid or expired',
          `create a new long-lived token and set ${tokenVar}`,
        );
      } else {
        report.fail(
          'token',
          `the token could not be checked. ${metaSays(f)}`,
          'try again in a few minutes; if it persists, create a new token',
        );
      }
    }
    for (const name of later) report.skip(name, 'needs a working token');
    return false;
  }
  report.pass('Graph API', `reachable at ${base}`);
  const tokenId = String(me.user_id ?? me.id ?? '');
  const who = me.username ? `@${me.username}` : me.name ? `"${me.name}"` : 'the account';
  report.pass('token', `works, it belongs to ${who} (id ${tokenId || 'unknown'})`);
  await tokenExpiry(report, client, c, tokenVar);

  // 4. The token's account is the configured one.
  let healthy = true;
  const expected = facebookLogin ? c.pageId : (c.accountId ?? c.pageId);
  const expectedVar = facebookLogin
    ? 'INSTAGRAM_PAGE_ID'
    : c.accountId
      ? 'INSTAGRAM_USER_ID'
      : 'INSTAGRAM_PAGE_ID';
  if (expected && tokenId === expected) {
    report.pass('account', `${expectedVar} matches the token’s account`);
  } else {
    healthy = false;
    report.fail(
      'account',
      `the token belongs to id ${tokenId || 'unknown'}, but ${expectedVar} is ${expected}`,
      `set ${expectedVar}=${tokenId || '<the account id>'}, or use a token created for account ${expected}`,
    );
  }

  // 5 and 6. Permissions (reading the webhook subscription needs the messaging permission) and the
  // subscription itself.
  const permission = facebookLogin ? 'instagram_manage_messages' : 'instagram_business_manage_messages';
  let fields: string[];
  try {
    fields = subscribedFields(await client.subscriptions());
  } catch (err) {
    const f = failureOf(err);
    if (!f) throw err;
    if (permissionProblem(f)) {
      report.fail(
        'permissions',
        `the token lacks the ${permission} permission`,
        `in the Meta dashboard, give the app the ${permission} permission, create a new token that includes it and set ${facebookLogin ? 'INSTAGRAM_ACCESS_TOKEN (or PAGE_ACCESS_TOKEN)' : 'INSTAGRAM_ACCESS_TOKEN'}`,
      );
    } else {
      report.fail(
        'permissions',
        `could not read the webhook subscription. ${metaSays(f)}`,
        'check the account settings above, then try again',
      );
    }
    report.skip('webhook subscription', 'needs the permissions');
    return false;
  }
  report.pass('permissions', `the token can manage messages (${permission})`);

  let missing = WEBHOOK_FIELDS.filter((f) => !fields.includes(f));
  if (missing.length && fix) {
    try {
      await client.subscribe([...new Set([...fields, ...WEBHOOK_FIELDS])]);
      fields = subscribedFields(await client.subscriptions());
      const still = WEBHOOK_FIELDS.filter((f) => !fields.includes(f));
      if (still.length === 0) {
        report.pass('webhook subscription', `fixed: now subscribed to ${missing.join(', ')}`);
        return healthy;
      }
      missing = still;
    } catch (err) {
      const f = failureOf(err);
      if (!f) throw err;
      report.fail(
        'webhook subscription',
        `could not subscribe the app to ${missing.join(', ')}. ${metaSays(f)}`,
        permissionProblem(f)
          ? `give the app the ${permission} permission and create a new token`
          : 'subscribe the app to these fields in the Meta dashboard (Webhooks)',
      );
      return false;
    }
  }
  if (missing.length) {
    report.fail(
      'webhook subscription',
      missing.includes('messages')
        ? `the app is not subscribed to messages${missing.length > 1 ? ` (nor ${missing.filter((m) => m !== 'messages').join(', ')})` : ''}, so igdm receives no messages`
        : `the app is not subscribed to ${missing.join(', ')}, so igdm misses those events`,
      fix
        ? 'subscribe the app to these fields in the Meta dashboard (Webhooks)'
        : 'run igdm doctor --fix to subscribe the app, or subscribe to these fields in the Meta dashboard (Webhooks)',
    );
    return false;
  }
  report.pass('webhook subscription', `subscribed to ${WEBHOOK_FIELDS.join(', ')}`);
  return healthy;
}

const DAY = 86_400_000;

/**
 * 3b. When the token expires (debug_token, with META_APP_ID): a running igdm refreshes Instagram
 * Login tokens by itself (channels/token-keeper.ts); within 7 days of the end it could not.
 */
async function tokenExpiry(report: Report, client: GraphClient, c: ChannelSettings, tokenVar: string) {
  if (!c.appId) {
    report.line('  (token expiry: set META_APP_ID, the app id, to have it checked here)');
    return;
  }
  let expiresAt: number | null;
  try {
    expiresAt = (await client.debugToken(c.appId, c.appSecret)).expiresAt;
  } catch (err) {
    const f = failureOf(err);
    if (!f) throw err;
    report.fail(
      'token expiry',
      `could not be read. ${metaSays(f)}`,
      'check that META_APP_ID is the id of the app whose secret is META_APP_SECRET',
    );
    return;
  }
  if (expiresAt === 0) return report.pass('token expiry', 'the token does not expire');
  if (expiresAt === null) return report.pass('token expiry', 'Meta did not say when the token expires');
  const days = Math.max(0, Math.floor((expiresAt - Date.now()) / DAY));
  const when = `expires in ${days} day${days === 1 ? '' : 's'} (${new Date(expiresAt).toISOString().slice(0, 10)})`;
  if (expiresAt - Date.now() > 7 * DAY)
    return report.pass('token expiry', `${when}; igdm refreshes it before then while it runs`);
  report.fail(
    'token expiry',
    when,
    `igdm could not refresh it: create a new long-lived token and set ${tokenVar} (or PATCH /v1/channels/default)`,
  );
}

/** 7. What to enter in the Meta dashboard's webhook settings (the variable's name, never its value). */
function webhookInfo(report: Report, config: Config, env: Env) {
  const publicUrl = env.PUBLIC_URL?.trim().replace(/\/+$/, '');
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `${publicUrl ? displayUrl(publicUrl) : `http://${host}:${config.port}`}/webhooks/meta`;
  report.line('');
  report.line('In the Meta dashboard (Webhooks), enter:');
  report.line(`  Callback URL:  ${url}`);
  report.line('  Verify token:  the value of WEBHOOK_VERIFY_TOKEN');
  report.line('And as the data deletion request URL (Business login settings, or App settings → Basic):');
  report.line(`  ${url.replace(/\/webhooks\/meta$/, '/meta/data-deletion')}`);
  if (!publicUrl) {
    report.line(
      '  (Meta must reach this address over HTTPS from the internet: set PUBLIC_URL to the public address in front of igdm.)',
    );
  }
}
