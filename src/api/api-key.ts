import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from '../log.ts';
import type { Database } from '../store/schema.ts';
import { insertSetting, readSetting } from '../store/settings.ts';

// The API key: IGDM_API_KEY, or one generated on first start and printed once. Only its hash is kept.

const SETTING = 'api_key_sha256';

export const hashApiKey = (key: string) => createHash('sha256').update(key).digest();

/** The hash of the API key: the configured one, the one generated earlier, or a new one. */
export async function apiKeyHash(
  db: Kysely<Database>,
  configured: string | null,
  log: Logger,
): Promise<Buffer> {
  if (configured) return hashApiKey(configured);
  const stored = await readSetting(db, SETTING);
  if (stored !== undefined) return Buffer.from(stored, 'hex');
  const key = `igdm_${randomBytes(24).toString('base64url')}`;
  const hash = hashApiKey(key);
  await insertSetting(db, SETTING, hash.toString('hex'));
  // Printed on stdout, not logged: it is shown this once and never stored in clear.
  process.stdout.write(
    `\nigdm generated an API key (shown once; set IGDM_API_KEY to choose your own):\n\n  ${key}\n\n` +
      'Open igdm in a browser (http://localhost:3000/ by default) and paste it to use the inbox.\n\n',
  );
  log.info('generated an API key (printed above)');
  return hash;
}
