import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { runSandboxServer, SANDBOX_ACCOUNT_ID } from '../sandbox/index.ts';

/**
 * `igdm sandbox`: the emulated Graph API and its simulated customers on a port of their own, for a
 * gateway started separately (with the credentials it prints, or the ones already in the environment).
 */
export async function sandbox(config: Config, log: Logger, args: string[]): Promise<number | null> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', default: '4000' },
      host: { type: 'string', default: '127.0.0.1' },
      webhook: { type: 'string' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`igdm: --port must be a port number, got "${values.port}"\n`);
    return 2;
  }
  const webhookUrl = values.webhook ?? `http://127.0.0.1:${config.port}/webhooks/meta`;
  const c = config.channel;
  const secret = () => randomBytes(24).toString('base64url');
  const appSecret = c?.appSecret || secret();
  const accessToken = c?.accessToken ?? secret();
  const accountId = c?.accountId ?? SANDBOX_ACCOUNT_ID;
  const server = await runSandboxServer({
    port,
    host: values.host,
    appSecret,
    accessToken,
    accountId,
    webhookUrl,
    sendRatePerSecond: config.sandboxRates.sendPerSecond,
    mediaRatePerSecond: config.sandboxRates.mediaPerSecond,
    log,
  });
  if (!c) {
    // Sandbox credentials only: they open nothing but this sandbox.
    process.stdout.write(
      `\nThe sandbox listens on ${server.url}/sandbox and delivers webhooks to ${webhookUrl}.\n` +
        'Start igdm against it with:\n\n' +
        `  META_APP_SECRET=${appSecret} WEBHOOK_VERIFY_TOKEN=${secret()} INSTAGRAM_ACCESS_TOKEN=${accessToken} \\\n` +
        `  INSTAGRAM_USER_ID=${accountId} INSTAGRAM_GRAPH_API_URL=${server.graphApiUrl} npm start\n\n`,
    );
  }
  log.info({ url: `${server.url}/sandbox`, webhook: webhookUrl }, 'sandbox listening');
  const stop = () => void server.close().then(() => log.info('sandbox stopped'));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return null;
}
