import type { Config } from '../config.ts';
import { isPostgresUrl, type MigrationReport, openStore, sqlitePathOf } from '../store/index.ts';
import { describeUrl } from '../store/postgres.ts';

/**
 * `igdm migrate`: brings the schema of the store DATABASE_URL names up to date and says what it did.
 * On PostgreSQL, run before (or while) many processes start: they wait for each other (migrate.ts).
 */
export async function migrateCommand(config: Config): Promise<number> {
  const url = config.databaseUrl;
  const where = isPostgresUrl(url) ? describeUrl(url) : sqlitePathOf(url);
  const reports: MigrationReport[] = [];
  try {
    const store = await openStore(url, { migrated: (r) => reports.push(r) });
    await store.close();
  } catch (err) {
    // The embedded store's refusals name the store and the fix (lock.ts, integrity.ts); pg's
    // errors (a refused connection, a missing database) say neither.
    const { message } = err as Error;
    process.stderr.write(
      `igdm: ${isPostgresUrl(url) ? `could not migrate the store at ${where}: ${message}` : message}\n`,
    );
    return 1;
  }
  const { applied, total } = reports[0]!;
  const latest = applied.at(-1);
  process.stdout.write(
    applied.length === 0
      ? `igdm: the store at ${where} is up to date (${total} migrations); nothing to apply\n`
      : `igdm: applied ${applied.length} of ${total} migrations to the store at ${where}: ${
          applied.length === 1 ? latest : `${applied[0]} … ${latest}`
        }\n`,
  );
  return 0;
}
