import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../../src/store/migrations.ts';
import { runIgdm } from '../support/http.ts';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../support/postgres.ts';

// `igdm migrate` as a child process on the pinned Node: it brings the store DATABASE_URL names up to
// date and says what it applied, on PostgreSQL (several at once) and on the embedded store.

const postgres = await postgresAvailable();
const names = Object.keys(migrations('postgres')).sort(); // Kysely runs them by name
const all = `${names.length} of ${names.length} migrations`;
const span = `${names[0]} … ${names.at(-1)}`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'igdm-migrate-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const migrate = (databaseUrl: string) => runIgdm(dir, ['migrate'], { DATABASE_URL: databaseUrl });

describe('igdm migrate on the embedded store', () => {
  it('applies every migration to a new store, then finds nothing to apply', async () => {
    const file = join(dir, 'new.sqlite');
    const first = await migrate(`sqlite:${file}`);
    expect(first).toEqual({
      code: 0,
      stdout: `igdm: applied ${all} to the store at ${file}: ${span}\n`,
      stderr: '',
    });
    const again = await migrate(`sqlite:${file}`);
    expect(again.stdout).toBe(
      `igdm: the store at ${file} is up to date (${names.length} migrations); nothing to apply\n`,
    );
  });
});

describe.skipIf(!postgres)('igdm migrate on PostgreSQL', () => {
  const databases: TestDatabase[] = [];
  const fresh = async () => {
    const d = await createTestDatabase();
    databases.push(d);
    return d;
  };
  afterAll(async () => {
    for (const d of databases) await d.drop();
  });

  /** The database's URL with a password (trust auth ignores it), which no output may show. */
  const withPassword = (url: string) => url.replace('://root@', '://root:hunter2-secret@');

  async function migrationsIn(url: string): Promise<string[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query('select name from kysely_migration order by name')).rows.map((r) => r.name);
    } finally {
      await client.end();
    }
  }

  it('migrates an empty database, names it without its password, then finds nothing to apply', async () => {
    const { url } = await fresh();
    const first = await migrate(withPassword(url));
    expect(first).toEqual({
      code: 0,
      stdout: `igdm: applied ${all} to the store at ${url}: ${span}\n`,
      stderr: '',
    });
    expect(await migrationsIn(url)).toEqual(names);
    const again = await migrate(withPassword(url));
    expect(again).toEqual({
      code: 0,
      stdout: `igdm: the store at ${url} is up to date (${names.length} migrations); nothing to apply\n`,
      stderr: '',
    });
  });

  it('run by two processes at once: both succeed, one applies the migrations', async () => {
    const { url } = await fresh();
    const runs = await Promise.all([migrate(url), migrate(url)]);
    expect(runs.map((r) => r.code)).toEqual([0, 0]);
    const said = runs.map((r) => r.stdout.replace(url, 'URL')).sort();
    expect(said).toEqual([
      `igdm: applied ${all} to the store at URL: ${span}\n`,
      `igdm: the store at URL is up to date (${names.length} migrations); nothing to apply\n`,
    ]);
    expect(await migrationsIn(url)).toEqual(names);
  });

  it('reaches a server on the same machine through its Unix socket (host= in the URL, as README says)', async () => {
    const { url } = await fresh();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const dirs = (await client.query('show unix_socket_directories')).rows[0]
      .unix_socket_directories as string;
    await client.end();
    const socketDir = dirs.split(',')[0]!.trim();
    expect(socketDir, 'the test server listens on a Unix socket').not.toBe('');
    const database = new URL(url).pathname.slice(1);
    const run = await migrate(`postgres://root@localhost/${database}?host=${socketDir}`);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`applied ${all}`);
    expect(await migrationsIn(url)).toEqual(names);
  });

  it('says which server it could not reach, without the password', async () => {
    const run = await migrate('postgres://root:hunter2-secret@127.0.0.1:9/igdm');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^igdm: could not migrate the store at postgres:\/\/root@127\.0\.0\.1:9\/igdm: connect ECONNREFUSED 127\.0\.0\.1:9\n$/,
    );
    expect(run.stdout).toBe('');
  });

  it('igdm start on a PostgreSQL it cannot reach exits, without the password in what it says', async () => {
    const run = await runIgdm(dir, ['start'], {
      DATABASE_URL: 'postgres://root:hunter2-secret@127.0.0.1:9/igdm',
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('ECONNREFUSED 127.0.0.1:9');
    expect(run.stderr + run.stdout).not.toContain('hunter2-secret');
  });
});
