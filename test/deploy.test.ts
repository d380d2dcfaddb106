import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_INBOX_DIR } from '../src/api/inbox.ts';
import { loadConfig } from '../src/config.ts';
import {
  all,
  commandsOf,
  copyOf,
  envOf,
  execForm,
  ignored,
  ignorePatterns,
  parseDockerfile,
  type Stage,
} from './support/dockerfile.ts';
import { NODE_BIN, REPO_ROOT } from './support/http.ts';
import { startTestService, type TestService } from './support/service.ts';

// The deployment files (Dockerfile, compose.yaml, .dockerignore). No image registry is reachable
// from the test machines, so the image is not built here: what it runs is checked against the
// repository instead (scripts, files, the environment igdm reads, the health check against a real
// service), and compose.yaml's structure (roles, health checks, order of start, shared key).

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');
const run = promisify(execFile);
const pkg = JSON.parse(read('package.json')) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  workspaces: string[];
};
/** Each workspace's package.json by its name ("@igdm/web"), and the root's as "". */
const workspaces = new Map<string, { dir: string; scripts: Record<string, string> }>([
  ['', { dir: '', scripts: pkg.scripts }],
  ...['packages/sdk', 'web'].map((dir) => {
    const p = JSON.parse(read(`${dir}/package.json`)) as { name: string; scripts: Record<string, string> };
    return [p.name, { dir, scripts: p.scripts }] as const;
  }),
]);

/** The environment variables igdm reads: its configuration (src/config.ts) and the AI providers' keys. */
const READ_BY_IGDM = new Set(
  ['src/config.ts', 'src/engine/ai/factory.ts'].flatMap((f) =>
    [...read(f).matchAll(/'([A-Z][A-Z0-9_]{2,})'/g)].map((m) => m[1]!),
  ),
);

const stages = parseDockerfile(read('Dockerfile'));
const build = stages.find((s) => s.name === 'build')!;
const runtime = stages.at(-1)!;
const workdir = (stage: Stage) => all(stage, 'WORKDIR').at(-1)!.args;
const healthcheck = all(runtime, 'HEALTHCHECK')[0]!.args;
const healthCommand = execForm(healthcheck.split(/\bCMD\s+/)[1]!);
/** The files of the folders the image is made from (what installs and builds make left aside). */
const sourceFiles = ['bin', 'src', 'web/src', 'packages/sdk/src'].flatMap((dir) =>
  readdirSync(join(REPO_ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(REPO_ROOT, join(e.parentPath, e.name))),
);
const dockerignore = ignorePatterns(read('.dockerignore'));

describe('Dockerfile', () => {
  it('builds in one stage and runs from a slim official Node.js 24 image in another', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build).toBeDefined();
    for (const stage of stages) expect(stage.image).toMatch(/^node:24(\.\d+)*-([a-z]+-)?slim$/);
    expect(pkg.devDependencies.node).toMatch(/^\^?24\./);
  });

  it('runs as a user other than root', () => {
    const user = all(runtime, 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user!.split(':')[0]);
  });

  it('copies only files the repository has, none of them left out by .dockerignore', () => {
    for (const stage of stages)
      for (const copy of all(stage, 'COPY').map(copyOf)) {
        if (copy.from) continue;
        for (const source of copy.sources) {
          expect(existsSync(join(REPO_ROOT, source)), source).toBe(true);
          expect(ignored(dockerignore, source), source).toBe(false);
        }
      }
    // Everything the service runs goes into the context; what is made inside, or secret, does not.
    expect(sourceFiles.length).toBeGreaterThan(100);
    expect(sourceFiles.filter((f) => ignored(dockerignore, f))).toEqual([]);
    for (const path of ['node_modules', 'web/node_modules', 'web/dist', 'packages/sdk/dist', '.env', 'data'])
      expect(ignored(dockerignore, path), path).toBe(true);
  });

  it('runs npm ci from the committed lock file, and scripts that exist in the right package', () => {
    const known = new Set(['npm', 'mkdir', 'chown']);
    for (const stage of stages) {
      const copied = all(stage, 'COPY')
        .map(copyOf)
        .flatMap((c) => c.sources);
      for (const command of all(stage, 'RUN').flatMap(commandsOf)) {
        expect(known, command.join(' ')).toContain(command[0]);
        if (command[0] !== 'npm') continue;
        if (command[1] === 'ci') expect(copied).toContain('package-lock.json');
        if (command[1] === 'run') {
          const at = command.indexOf('--workspace');
          const workspace = workspaces.get(at >= 0 ? command[at + 1]! : '');
          expect(workspace, command.join(' ')).toBeDefined();
          expect(Object.keys(workspace!.scripts), command.join(' ')).toContain(command[2]);
        }
      }
    }
    const runs = (stage: Stage) => all(stage, 'RUN').flatMap(commandsOf);
    expect(runs(build).some((c) => c.join(' ') === 'npm run build:web')).toBe(true);
    const install = runs(runtime).find((c) => c[0] === 'npm' && c[1] === 'ci')!;
    expect(install).toContain('--omit=dev');
  });

  it('needs nothing from the devDependencies at run time', () => {
    // Every package the service and the CLI import (statically or not) is a dependency.
    const files = sourceFiles.filter((f) => /^(src|bin)\/.*\.(ts|mjs)$/.test(f));
    const builtins = new Set(builtinModules);
    const imported = new Set<string>();
    for (const file of files)
      for (const m of read(file).matchAll(/(?:from|import\()\s*'([^'.][^']*)'/g)) {
        const name = m[1]!.startsWith('@') ? m[1]!.split('/').slice(0, 2).join('/') : m[1]!.split('/')[0]!;
        if (!m[1]!.startsWith('node:') && !builtins.has(name)) imported.add(name);
      }
    expect(imported.size).toBeGreaterThan(5);
    for (const name of imported) expect(Object.keys(pkg.dependencies), name).toContain(name);
  });

  it('puts the inbox built in the build stage where the service serves it from', () => {
    const dist = all(runtime, 'COPY')
      .map(copyOf)
      .find((c) => c.from === 'build')!;
    expect(dist.sources).toEqual([join(workdir(build), 'web/dist')]);
    const served = relative(REPO_ROOT, DEFAULT_INBOX_DIR).replace(/\/$/, '');
    expect(dist.dest).toBe(served);
    // Vite writes the build there (web/vite.config.ts).
    expect(read('web/vite.config.ts')).toContain("outDir: 'dist'");
  });

  it('starts igdm as `npm start` does, with a command the CLI has', async () => {
    const entrypoint = execForm(all(runtime, 'ENTRYPOINT')[0]!.args);
    const cmd = execForm(all(runtime, 'CMD')[0]!.args);
    expect([...entrypoint, ...cmd].join(' ')).toBe(pkg.scripts.start);
    expect(existsSync(join(REPO_ROOT, entrypoint.at(-1)!))).toBe(true);
    const usage = (await run(NODE_BIN, ['bin/igdm.mjs', 'help'], { cwd: REPO_ROOT })).stdout;
    for (const command of [cmd[0]!, 'migrate']) expect(usage).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it('sets only variables igdm reads, to values it accepts', () => {
    const env = Object.assign({}, ...all(runtime, 'ENV').map(envOf)) as Record<string, string>;
    expect(Object.keys(env).length).toBeGreaterThan(0);
    for (const name of Object.keys(env).filter((n) => n !== 'NODE_ENV'))
      expect(READ_BY_IGDM, name).toContain(name);
    const config = loadConfig(env);
    // The store and the data folder are the volume the image declares.
    const volume = execForm(all(runtime, 'VOLUME')[0]!.args);
    expect(config.dataDir).toBe(volume[0]);
    expect(config.databaseUrl).toBe(`sqlite:${volume[0]}/igdm.sqlite`);
    expect(all(runtime, 'EXPOSE')[0]!.args).toBe(String(config.port));
  });

  describe('its health check, run against a real service', () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startTestService();
    });
    afterAll(() => svc?.stop());

    const check = (port: string) =>
      run(NODE_BIN, healthCommand.slice(1), { env: { PORT: port }, timeout: 20_000 }).then(
        () => 0,
        (e: { code?: number }) => e.code ?? -1,
      );

    it('asks /healthz, which the service answers', async () => {
      expect(healthCommand[0]).toBe('node');
      expect(healthCommand.join(' ')).toContain('/healthz');
      expect((await svc.api('/healthz')).status).toBe(200);
      expect(await check(new URL(svc.url).port)).toBe(0);
    });

    it('fails when nothing answers', async () => {
      expect(await check('9')).toBe(1);
    });
  });
});

describe('compose.yaml', () => {
  const compose = parse(read('compose.yaml'), { merge: true }) as {
    services: Record<string, Service>;
    volumes: Record<string, unknown>;
  };
  interface Service {
    build?: string;
    image?: string;
    command?: string[];
    environment?: Record<string, string>;
    env_file?: string;
    volumes?: string[];
    ports?: string[];
    depends_on?: Record<string, { condition: string }>;
    healthcheck?: { test: string[] };
    deploy?: { replicas: number };
    stop_grace_period?: string;
  }
  const { services } = compose;
  const igdm = Object.entries(services).filter(([, s]) => s.build === '.');
  /** A service's environment as compose would give it, with these values in .env. */
  const dotenv = { IGDM_SECRET_KEY: 'ab'.repeat(32), POSTGRES_PASSWORD: 'secret' };
  const interpolated = (env: Record<string, string> = {}) =>
    Object.fromEntries(
      Object.entries(env).map(([k, v]) => [
        k,
        String(v).replace(/\$\{(\w+)(?::?[?-][^}]*)?\}/g, (_, name: string) => {
          expect(Object.keys(dotenv), `${k} uses ${name}`).toContain(name);
          return dotenv[name as keyof typeof dotenv];
        }),
      ]),
    );

  it('has PostgreSQL, a migration, one web process and two workers, all on the image', () => {
    expect(Object.keys(services).sort()).toEqual(['migrate', 'postgres', 'web', 'worker']);
    expect(igdm.map(([name]) => name).sort()).toEqual(['migrate', 'web', 'worker']);
    expect(services.web!.environment!.IGDM_ROLE).toBe('web');
    expect(services.web!.deploy?.replicas ?? 1).toBe(1);
    expect(services.worker!.environment!.IGDM_ROLE).toBe('worker');
    expect(services.worker!.deploy!.replicas).toBe(2);
    expect(services.migrate!.command).toEqual(['migrate']);
    // No Redis: igdm does not use it.
    expect(JSON.stringify(compose)).not.toMatch(/redis/i);
  });

  it('starts in order: PostgreSQL healthy, then the migration done, then the rest', () => {
    const postgres = services.postgres!;
    expect(postgres.image).toMatch(/^postgres:\d+/);
    expect(postgres.healthcheck!.test.join(' ')).toContain('pg_isready');
    expect(postgres.volumes!.some((v) => v.endsWith(':/var/lib/postgresql/data'))).toBe(true);
    expect(services.migrate!.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    for (const name of ['web', 'worker'])
      expect(services[name]!.depends_on, name).toEqual({
        migrate: { condition: 'service_completed_successfully' },
      });
  });

  it('gives every igdm process the same database, secret key and data folder, from .env', () => {
    const envs = igdm.map(([, s]) => interpolated(s.environment));
    for (const name of ['DATABASE_URL', 'IGDM_SECRET_KEY', 'IGDM_DATA_DIR'])
      expect(new Set(envs.map((e) => e[name])).size, name).toBe(1);
    expect(envs[0]!.DATABASE_URL).toMatch(/^postgres:\/\/igdm:secret@postgres:5432\/igdm$/);
    // The key comes from .env, never written in the file.
    for (const [, s] of igdm) {
      expect(s.environment!.IGDM_SECRET_KEY).toMatch(/^\$\{IGDM_SECRET_KEY:\?/);
      expect(s.env_file).toBe('.env');
    }
    // The data folder is one named volume, which all of them mount.
    const mounts = igdm.map(([, s]) => s.volumes!.find((v) => v.endsWith(`:${envs[0]!.IGDM_DATA_DIR}`)));
    expect(new Set(mounts).size).toBe(1);
    expect(Object.keys(compose.volumes)).toContain(mounts[0]!.split(':')[0]);
  });

  it('sets only variables igdm reads, to values it accepts', () => {
    for (const [name, s] of igdm) {
      for (const variable of Object.keys(s.environment!))
        expect([...READ_BY_IGDM], `${name}: ${variable}`).toContain(variable);
      expect(() => loadConfig(interpolated(s.environment)), name).not.toThrow();
    }
  });

  it('publishes the web process on the port the image listens on, and lets igdm end its shutdown', () => {
    const port = all(runtime, 'EXPOSE')[0]!.args;
    expect(services.web!.ports!.map((p) => p.split(':').at(-1))).toEqual([port]);
    expect(services.worker!.ports).toBeUndefined();
    // igdm gives up on a graceful shutdown after 10 s (src/cli/start.ts): Docker must wait longer.
    expect(read('src/cli/start.ts')).toContain('10_000');
    for (const [name, s] of igdm) expect(Number.parseInt(s.stop_grace_period!, 10), name).toBeGreaterThan(10);
    // Every igdm process has the image's health check (/healthz answers in every role).
    for (const [name, s] of igdm) expect(s.healthcheck, name).toBeUndefined();
  });
});
