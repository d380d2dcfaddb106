import type { Logger } from '../log.ts';
import { WakeListener } from '../queue/postgres-wakes.ts';
import { ANNOUNCED_TABLES, NOTICE_CHANNEL } from '../store/migrations-notices.ts';

// What other processes changed, heard on PostgreSQL: the triggers of migration 0026 NOTIFY
// `igdm_changed` with the changed table's name when a change commits (the notice takes a few
// milliseconds). Each table's followers reload what they keep of it. The LISTEN connection is opened
// again with backoff when lost; whatever was announced meanwhile is unknown, so on (re)connecting
// every follower reloads.

export type AnnouncedTable = (typeof ANNOUNCED_TABLES)[number];

export class ChangeNotices {
  readonly #followers = new Map<AnnouncedTable, (() => Promise<void>)[]>();
  readonly #log: Logger;
  readonly #listener: WakeListener;
  /** Per table: a reload under way, and whether another must follow it. */
  readonly #running = new Map<AnnouncedTable, Promise<void>>();
  readonly #again = new Set<AnnouncedTable>();

  constructor(connection: string, log: Logger) {
    this.#log = log;
    this.#listener = new WakeListener({
      connection,
      channel: NOTICE_CHANNEL,
      log,
      onWake: (table) => {
        if (table === null) for (const t of ANNOUNCED_TABLES) this.#reload(t);
        else if ((ANNOUNCED_TABLES as readonly string[]).includes(table))
          this.#reload(table as AnnouncedTable);
      },
    });
  }

  /** Calls `reload` when `table` changed (in any process, this one included). */
  follow(table: AnnouncedTable, reload: () => Promise<void>): void {
    this.#followers.set(table, [...(this.#followers.get(table) ?? []), reload]);
  }

  /** One reload of a table at a time; notices arriving meanwhile make one more. */
  #reload(table: AnnouncedTable): void {
    if (this.#running.has(table)) {
      this.#again.add(table);
      return;
    }
    const run = Promise.all((this.#followers.get(table) ?? []).map((f) => f()))
      .then(() => {})
      .catch((err: unknown) => this.#log.error({ err, table }, 'reloading a change made elsewhere failed'))
      .finally(() => {
        this.#running.delete(table);
        if (this.#again.delete(table)) this.#reload(table);
      });
    this.#running.set(table, run);
  }

  async close(): Promise<void> {
    await this.#listener.close();
    await Promise.all(this.#running.values());
  }
}
