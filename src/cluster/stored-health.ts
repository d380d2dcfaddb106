import type { Kysely } from 'kysely';
import type { ChannelHealth, Database } from '../store/schema.ts';

// Each channel's health as stored, for a process that shows it but does not send (the `web` role):
// the sender of a worker stores it in the write of the outcome that changed it, and the change
// notice (cluster/notices.ts) has this read again.

export class StoredHealth {
  readonly #db: Kysely<Database>;
  #health = new Map<string, ChannelHealth>();

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async load(): Promise<void> {
    const rows = await this.#db.selectFrom('channels').select(['id', 'status']).execute();
    this.#health = new Map(rows.map((r) => [r.id, r.status]));
  }

  readonly of = (channelId: string): ChannelHealth => this.#health.get(channelId) ?? 'ok';
}
