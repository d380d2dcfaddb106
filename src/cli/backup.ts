import { copyFileSync, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { parseArgs } from 'node:util';
import type { Config } from '../config.ts';
import { createOwnerOnly } from '../store/files.ts';

// `igdm backup FILE`: an online copy of the embedded store, taken while igdm runs. SQLite's
// VACUUM INTO reads one consistent snapshot (a read transaction: igdm's writers go on meanwhile)
// and writes it compacted; the copy is checked, then renamed into place, so FILE is either a whole,
// checked copy or absent. It is owner-only (0600) like the store, and its tokens stay encrypted:
// restoring it needs the same key, so without IGDM_SECRET_KEY the key file (`secret.key`, beside the
// store) is copied beside it too, unless a different one is there already (then it says so).

const USAGE = 'igdm backup FILE [--force]   (FILE must not exist; --force replaces it)';
/** Tables whose rows the summary counts. */
const COUNTED = ['conversations', 'messages', 'contacts', 'webhook_events', 'channels'] as const;

export async function backup(config: Config, args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (err) {
    process.stderr.write(`igdm: ${(err as Error).message}\nUsage: ${USAGE}\n`);
    return 2;
  }
  const { file, force } = parsed;
  if (!config.databaseUrl.startsWith('sqlite:')) {
    process.stderr.write(
      'igdm: backup copies the embedded store (DATABASE_URL=sqlite:...); back PostgreSQL up with its own tools (pg_dump)\n',
    );
    return 2;
  }
  const source = config.databaseUrl.slice('sqlite:'.length);
  if (source === ':memory:' || !existsSync(source)) {
    process.stderr.write(`igdm: no store at ${source} (DATABASE_URL) to back up\n`);
    return 2;
  }
  const target = resolve(file);
  if (target === resolve(source)) {
    process.stderr.write('igdm: the backup cannot replace the store itself; name another file\n');
    return 2;
  }
  if (existsSync(target) && !force) {
    process.stderr.write(`igdm: ${target} exists; name a new file, or pass --force to replace it\n`);
    return 2;
  }

  const partial = `${target}.partial`;
  rmSync(partial, { force: true });
  const started = performance.now();
  try {
    createOwnerOnly(partial); // VACUUM INTO writes into an empty file, keeping its mode
    const db = new DatabaseSync(source, { readOnly: true, timeout: 5000 });
    try {
      db.prepare('vacuum into ?').run(partial);
    } finally {
      db.close();
    }
    const counts = check(partial);
    renameSync(partial, target);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const summary = COUNTED.map((t) => `${counts[t]} ${t.replace('_', ' ')}`).join(', ');
    process.stdout.write(`igdm: backed the store up to ${target} in ${seconds} s (${summary}); checked\n`);
    process.stdout.write(`igdm: ${keyNote(config, source, target)}\n`);
    return 0;
  } catch (err) {
    rmSync(partial, { force: true });
    process.stderr.write(`igdm: backup failed: ${(err as Error).message}\n`);
    return 1;
  }
}

/** Where the key the copy's tokens need is: copied beside the copy when it comes from the key file. */
function keyNote(config: Config, source: string, target: string): string {
  if (config.secretKey)
    return 'its tokens are encrypted with IGDM_SECRET_KEY: restore it with the same value';
  const keyFile = join(dirname(resolve(source)), 'secret.key');
  if (!existsSync(keyFile)) return 'the store has no key file (no token was stored encrypted yet)';
  const beside = join(dirname(target), 'secret.key');
  if (!existsSync(beside)) {
    copyFileSync(keyFile, beside);
    return `its tokens are encrypted with the key file, copied to ${beside}: keep the two together`;
  }
  if (readFileSync(beside, 'utf8') === readFileSync(keyFile, 'utf8'))
    return `its tokens are encrypted with the key file ${beside}: keep the two together`;
  return `its tokens are encrypted with ${keyFile}, not with the other key file in ${dirname(target)}: keep a copy of ${keyFile} with the backup`;
}

function parse(args: string[]): { file: string; force: boolean } {
  const { values, positionals } = parseArgs({
    args,
    options: { force: { type: 'boolean' } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new Error('backup takes one file name');
  return { file: positionals[0]!, force: values.force ?? false };
}

/** The copy's integrity, and its rows per table; throws when it is damaged. */
function check(file: string): Record<(typeof COUNTED)[number], number> {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const result = db.prepare('pragma integrity_check').all() as { integrity_check: string }[];
    const problems = result.map((r) => r.integrity_check).filter((r) => r !== 'ok');
    if (problems.length) throw new Error(`the copy is damaged: ${problems.slice(0, 3).join('; ')}`);
    const counts = {} as Record<(typeof COUNTED)[number], number>;
    for (const table of COUNTED) {
      counts[table] = Number((db.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n);
    }
    return counts;
  } finally {
    db.close();
  }
}
