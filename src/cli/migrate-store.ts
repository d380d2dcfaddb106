import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Config } from '../config.ts';
import { planCopy, SchemaMismatchError, ValueError } from '../store/copy-plan.ts';
import { CountMismatchError, copyToPostgres, TargetNotEmptyError } from '../store/copy-to-postgres.ts';
import {
  isPostgresUrl,
  openPostgresStore,
  openSqliteStore,
  type PostgresStore,
  type SqliteStore,
} from '../store/index.ts';
import { describeUrl } from '../store/postgres.ts';

// `igdm migrate-store --to postgres://…`: moves the embedded store (DATABASE_URL=sqlite:PATH) into
// an empty PostgreSQL database, every row with its id, verified by counts, so a user who outgrows
// one machine keeps their history. The embedded store is taken as `igdm replay` takes it (a running
// igdm makes this refuse) and brought to this igdm's schema; PostgreSQL is migrated (advisory lock),
// then filled in one transaction (copy-to-postgres.ts). The embedded store is left as it was.

const USAGE = 'igdm migrate-store --to postgres://USER:PASSWORD@HOST:PORT/DATABASE';

export async function migrateStore(config: Config, args: string[]): Promise<number> {
  let to: string;
  try {
    const { values } = parseArgs({ args, options: { to: { type: 'string' } } });
    if (!values.to) throw new Error('migrate-store needs --to, the PostgreSQL database to fill');
    to = values.to;
  } catch (err) {
    process.stderr.write(`igdm: ${(err as Error).message}\nUsage: ${USAGE}\n`);
    return 2;
  }
  // Not echoed back: a URL that is not PostgreSQL's may still hold a password.
  if (!isPostgresUrl(to)) {
    process.stderr.write(`igdm: --to must name a PostgreSQL database (postgres://...)\nUsage: ${USAGE}\n`);
    return 2;
  }
  if (!config.databaseUrl.startsWith('sqlite:')) {
    process.stderr.write(
      'igdm: migrate-store moves the embedded store (DATABASE_URL=sqlite:PATH) to PostgreSQL; set DATABASE_URL to it\n',
    );
    return 2;
  }
  const path = config.databaseUrl.slice('sqlite:'.length);
  if (path === ':memory:' || !existsSync(path)) {
    process.stderr.write(`igdm: no store at ${path}; set DATABASE_URL to the store igdm start uses\n`);
    return 2;
  }
  const where = describeUrl(to);

  let source: SqliteStore;
  try {
    // The whole integrity check first, however long it takes: a damaged store is not moved.
    source = await openSqliteStore(config.databaseUrl, { integrityBudgetMs: 2 ** 31 - 1 });
  } catch (err) {
    // In use by a running igdm (lock.ts), damaged (integrity.ts): its message names the fix.
    process.stderr.write(`igdm: ${(err as Error).message}\n`);
    return 1;
  }
  let target: PostgresStore | null = null;
  try {
    try {
      target = await openPostgresStore(to);
    } catch (err) {
      process.stderr.write(`igdm: could not open the database at ${where}: ${(err as Error).message}\n`);
      return 1;
    }
    const started = performance.now();
    const plans = await planCopy(source.sqlite, target.db);
    const total = plans.reduce((n, p) => n + p.rows, 0);
    const counts = await copyToPostgres(source.sqlite, target.db, plans, {
      onStart: (rows, tables) =>
        process.stderr.write(
          `igdm: copying ${rows} rows of ${tables} tables from ${resolve(path)} to ${where}\n`,
        ),
      onProgress: (p) => process.stderr.write(`igdm: ${p.copied} of ${p.total} rows copied (${p.table})\n`),
    });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const rows = (table: string) => counts.find((c) => c.table === table)?.rows ?? 0;
    const named = ['conversations', 'messages', 'contacts', 'webhook_events', 'channels']
      .map((t) => `${rows(t)} ${t.replace('_', ' ')}`)
      .join(', ');
    process.stdout.write(
      `igdm: moved the store at ${resolve(path)} to ${where} in ${seconds} s: ${counts.length} tables, ` +
        `${total} rows (${named}); the row counts of every table are equal on both sides\n`,
    );
    process.stdout.write(`igdm: ${keyNote(config, path)}\n`);
    const media = rows('kept_media');
    if (media > 0)
      process.stdout.write(
        `igdm: the kept copies of media stay as files in ${join(dirname(resolve(path)), 'media')}: the store names them by path, so keep them there\n`,
      );
    return 0;
  } catch (err) {
    process.stderr.write(`igdm: ${failure(err, where)}\n`);
    return 1;
  } finally {
    await target?.close();
    await source.close();
  }
}

/** Why the move failed and what to do, naming the database without its password. */
function failure(err: unknown, where: string): string {
  if (err instanceof TargetNotEmptyError)
    return `the database at ${where} ${err.message}: migrate-store fills an empty database only: create one (createdb NAME) and name it with --to, or empty this one; nothing was copied`;
  if (err instanceof SchemaMismatchError) return err.message;
  const nothingKept = `nothing was kept in ${where} (the copy is one transaction); the embedded store is unchanged`;
  if (err instanceof CountMismatchError) return `the copy is refused: ${err.message}; ${nothingKept}`;
  if (err instanceof ValueError) return `a value does not fit PostgreSQL: ${err.message}; ${nothingKept}`;
  return `the copy to ${where} failed: ${(err as Error).message}; ${nothingKept}`;
}

/** Secrets are copied still sealed: the new store needs the key they were sealed with. */
function keyNote(config: Config, path: string): string {
  const secrets = "channels' tokens and webhook endpoints' secrets are copied still encrypted";
  if (config.secretKey)
    return `${secrets} with IGDM_SECRET_KEY: run igdm on the new store with the same IGDM_SECRET_KEY`;
  const keyFile = join(dirname(resolve(path)), 'secret.key');
  if (existsSync(keyFile))
    return `${secrets} with the key file ${keyFile}: run igdm on the new store with IGDM_SECRET_KEY set to that file's contents (the new store has no file beside it), and keep a copy of the file`;
  return `${secrets}; no key file is beside the store: if igdm ran with IGDM_SECRET_KEY, run it on the new store with the same value`;
}
