import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';
import { POSTGRES_ADMIN_URL, postgresAvailable } from './test/support/postgres.ts';

// Three projects in one run: igdm's own tests (Node; test/web/ drives the built inbox in Chromium);
// the suites that start igdm again with its store on PostgreSQL (igdm-postgres); and the inbox's
// component tests (web/src/**/*.test.ts[x], in happy-dom, with web's Vite config).

/**
 * Each file in a fresh process (isolate, the default). Without it the run took 383–426 s against
 * 526 s on one host (555–578 against 812 on another), but test/api/media.test.ts's afterAll hung for
 * 30 s on PostgreSQL in one of five full runs and then in one of four, and
 * test/send/restart-limits.test.ts timed out once. The hang was also seen once with isolation (in
 * six runs); a media download in flight holding igdm's stop was one cause (mended: a stop abandons
 * it), not necessarily the only one.
 */
const shared = { testTimeout: 30_000, hookTimeout: 30_000, pool: 'forks' } as const;

/**
 * The suites that go through a service (test/support/service.ts, or `igdm start` as a child
 * process), run a second time on PostgreSQL: the API, the engine's flows, the sender. The store's
 * repositories and the queue's contract run on both stores within their own files
 * (test/store/repositories.test.ts, test/queue/); test/postgres/ is PostgreSQL's own.
 */
const ON_BOTH_STORES = ['test/api/**/*.test.ts', 'test/engine/**/*.test.ts', 'test/send/**/*.test.ts'];
/**
 * These pass on PostgreSQL too (2026-12-06) but stay out of the default run to keep CI's time down:
 * IGDM_TEST_POSTGRES_ALL=1 adds them.
 */
const ALSO_ON_POSTGRES = [
  'test/sdk/**/*.test.ts',
  'test/backfill/**/*.test.ts',
  'test/channels/**/*.test.ts',
  'test/sandbox/media.test.ts',
  'test/approvals-crash.test.ts',
  'test/crash.test.ts',
];
/** Of those: the files with no service in them (nothing about the store), and SQLite's own. */
const NOT_ON_POSTGRES = [
  // Units: no store.
  'test/api/api-key.test.ts',
  'test/engine/ai/**',
  'test/engine/automation/**',
  'test/engine/intent/**',
  'test/sdk/transport.test.ts',
  'test/sdk/verify-webhook.test.ts',
  'test/send/channel-health.test.ts',
  'test/channels/env-channel.test.ts',
  // Stores an earlier igdm wrote: every such store is SQLite (PostgreSQL came with this schema;
  // its migrations from empty are test/store/postgres-migrate.test.ts).
  '**/*upgrade.test.ts',
];

/**
 * igdm's own files that open PostgreSQL themselves. They run one at a time, after the rest: some hold
 * a transaction open on purpose, and any open transaction on the server holds back every database's
 * event log (its cursor waits for the cluster-wide xmin, docs/postgres.md), so tests that wait a
 * moment for an event would flake beside them.
 */
const OPEN_POSTGRES = [
  'test/postgres/**/*.test.ts',
  'test/store/postgres-*.test.ts',
  'test/store/repositories.test.ts',
  'test/queue/postgres.test.ts',
  'test/graph/shared-rate-limit.test.ts',
  'test/cli/backup.test.ts',
  'test/cli/migrate.test.ts',
  'test/cli/migrate-store.test.ts',
];

export default defineConfig(async () => {
  // Under CI an unreachable PostgreSQL fails the run here (postgresAvailable throws); elsewhere the
  // PostgreSQL project is left out, with a message saying how to run it.
  const postgres = await postgresAvailable();
  if (!postgres)
    process.stderr.write(
      `igdm-postgres: not run (no PostgreSQL at ${new URL(POSTGRES_ADMIN_URL).host}); only SQLite was tested.\n`,
    );
  // First the service suites, on SQLite and on PostgreSQL, two files at a time (the machine's two
  // cores); then igdm's own files that open PostgreSQL, one at a time (OPEN_POSTGRES).
  const sqlite = { IGDM_TEST_STORE: 'sqlite' };
  const projects: (TestProjectInlineConfiguration | string)[] = [
    {
      test: {
        name: 'igdm',
        include: ['test/**/*.test.ts'],
        exclude: OPEN_POSTGRES,
        env: sqlite,
        ...shared,
        ...inGroup(0, 2),
      },
    },
    './web/vitest.config.ts', // in the first group too (its own config says so)
    {
      test: { name: 'igdm-pg', include: OPEN_POSTGRES, env: sqlite, ...shared, ...inGroup(1, 1) },
    },
  ];
  if (postgres)
    projects.push({
      test: {
        name: 'igdm-postgres',
        include: process.env.IGDM_TEST_POSTGRES_ALL
          ? [...ON_BOTH_STORES, ...ALSO_ON_POSTGRES]
          : ON_BOTH_STORES,
        exclude: NOT_ON_POSTGRES,
        env: { IGDM_TEST_STORE: 'postgres' },
        setupFiles: ['test/support/postgres-setup.ts'],
        ...shared,
        ...inGroup(0, 2),
      },
    });
  return { test: { projects } };
});

/** A project's place in the run: groups run one after another, its files `workers` at a time. */
function inGroup(order: number, workers: number) {
  return { sequence: { groupOrder: order }, maxWorkers: workers };
}
