import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import { createLogger } from '../log.ts';
import { replay } from './replay.ts';
import { sandbox } from './sandbox.ts';
import { start } from './start.ts';

const USAGE = `Usage: igdm <command> [options]

Commands:
  start [--role all|web|worker]  run the service (the default of npm start); --role overrides
                                 IGDM_ROLE (web and worker need PostgreSQL; docs/postgres.md)
  migrate                        bring the schema of the store DATABASE_URL names (sqlite:PATH or
                                 postgres://...) up to date, say what was applied, and exit
  replay [--conversation ID]     re-apply stored webhook events to rebuild conversations and messages
  replay --unapplied             re-apply only the events that could not be applied (after an upgrade)
  backfill --since TIME [--channel ID] [--url URL]
                                 ask the running igdm to read back what Meta's webhooks did not bring
                                 since TIME (ISO, or 90m, 6h, 2d) from the Conversations API
  sandbox [--port 4000] [--host 127.0.0.1] [--webhook URL]
                                 run the emulated Graph API and simulated customers on their own
  backup FILE [--force]          copy the embedded store to FILE while igdm runs, and check the copy
  migrate-store --to postgres://USER:PASSWORD@HOST/DATABASE
                                 move the embedded store (igdm stopped) into an empty PostgreSQL
                                 database, ids and all, and check the row counts of every table
  doctor [--fix]                 check the account's token, permissions and webhook subscription;
                                 --fix subscribes the app to the webhook fields igdm needs

Configuration comes from the environment; see README.md.`;

async function main(argv: string[]) {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 1;
  }
  if (command === 'doctor') {
    // Reads the configuration itself: an invalid one is one of the checks it reports.
    const { doctor } = await import('./doctor.ts');
    return doctor(rest);
  }
  let config: ReturnType<typeof loadConfig>;
  let env: Record<string, string | undefined> = process.env;
  if (command === 'start') {
    const { values } = parseArgs({ args: rest, options: { role: { type: 'string' } } });
    if (values.role !== undefined) env = { ...process.env, IGDM_ROLE: values.role };
  }
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`igdm: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  switch (command) {
    case 'start':
      await start(config, log);
      return null; // runs until a signal
    case 'migrate': {
      const { migrateCommand } = await import('./migrate.ts');
      return migrateCommand(config);
    }
    case 'replay': {
      const { values } = parseArgs({
        args: rest,
        options: { conversation: { type: 'string' }, unapplied: { type: 'boolean' } },
      });
      if (values.unapplied && values.conversation) {
        process.stderr.write('igdm: replay takes --conversation or --unapplied, not both\n');
        return 2;
      }
      return replay(config, values.conversation ?? null, { unapplied: values.unapplied ?? false });
    }
    case 'sandbox':
      return sandbox(config, log, rest);
    case 'backfill': {
      const { backfill } = await import('./backfill.ts');
      return backfill(config, rest);
    }
    case 'backup': {
      const { backup } = await import('./backup.ts');
      return backup(config, rest);
    }
    case 'migrate-store': {
      const { migrateStore } = await import('./migrate-store.ts');
      return migrateStore(config, rest);
    }
    default:
      process.stderr.write(`igdm: unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== null) process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`igdm: ${err.message}\n`);
    process.exitCode = 1;
  },
);
