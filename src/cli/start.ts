import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { startService } from '../service.ts';
import { describeUrl } from '../store/postgres.ts';

export async function start(config: Config, log: Logger): Promise<void> {
  const service = await startService(config, log);
  const store = service.store.kind === 'sqlite' ? service.store.sqlitePath : describeUrl(config.databaseUrl);
  log.info({ url: service.url, store }, 'igdm is listening');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      log.error('shutdown took over 10 s; exiting');
      process.exit(1);
    }, 10_000);
    force.unref();
    try {
      await service.close();
      log.info('stopped');
    } catch (err) {
      log.error({ err }, 'shutdown failed');
      process.exitCode = 1;
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
