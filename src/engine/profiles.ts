import type { Kysely } from 'kysely';
import { GraphClient, GraphError } from '../graph/client.ts';
import type { Logger } from '../log.ts';
import type { Channel } from '../store/channels.ts';
import type { Database } from '../store/schema.ts';

// Contacts' names, usernames and pictures come from Meta's user profile API, asked once when a
// customer first writes and again after a day. One request at a time: profiles are not urgent.

const DAY = 24 * 60 * 60 * 1000;

export class Profiles {
  readonly #db: Kysely<Database>;
  readonly #channels: () => readonly Channel[];
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #waiting = new Set<string>();
  #running: Promise<void> | null = null;

  constructor(deps: {
    db: Kysely<Database>;
    channels: () => readonly Channel[];
    log: Logger;
    now?: () => number;
  }) {
    this.#db = deps.db;
    this.#channels = deps.channels;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
  }

  /** Conversations changed: refresh their contacts' profiles when due. */
  touched(conversationIds: string[]): void {
    for (const id of conversationIds) this.#waiting.add(id);
    this.#running ??= this.#work().finally(() => {
      this.#running = null;
    });
  }

  /** The contact's profile, asked now if it never was (a reply is about to use the name). */
  async ensure(contactId: string): Promise<void> {
    const contact = await this.#db
      .selectFrom('contacts')
      .select(['id', 'channelId', 'igsid'])
      .where('id', '=', contactId)
      .where('profileCheckedAt', 'is', null)
      .executeTakeFirst();
    if (contact) await this.#refresh(contact);
  }

  /** Resolves when nothing is waiting (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #work() {
    while (this.#waiting.size) {
      const ids = [...this.#waiting].slice(0, 100);
      for (const id of ids) this.#waiting.delete(id);
      const due = await this.#db
        .selectFrom('conversations as c')
        .innerJoin('contacts as ct', 'ct.id', 'c.contactId')
        .select(['ct.id', 'ct.channelId', 'ct.igsid'])
        .where('c.id', 'in', ids)
        .where((eb) =>
          eb.or([eb('ct.profileCheckedAt', 'is', null), eb('ct.profileCheckedAt', '<', this.#now() - DAY)]),
        )
        .execute();
      for (const contact of due) await this.#refresh(contact);
    }
  }

  async #refresh(contact: { id: string; channelId: string; igsid: string }) {
    const channel = this.#channels().find((c) => c.id === contact.channelId);
    if (!channel?.accessToken || channel.status === 'needs_token') return;
    const now = this.#now();
    try {
      const p = await new GraphClient(channel, { timeoutMs: 5000 }).profile(contact.igsid);
      await this.#db
        .updateTable('contacts')
        .set({
          username: p.username ?? null,
          name: p.name ?? null,
          profilePic: p.profile_pic ?? null,
          profileCheckedAt: now,
          updatedAt: now,
        })
        .where('id', '=', contact.id)
        .execute();
    } catch (err) {
      if (!(err instanceof GraphError)) throw err;
      // Asked again tomorrow, not on every message meanwhile.
      await this.#db
        .updateTable('contacts')
        .set({ profileCheckedAt: now })
        .where('id', '=', contact.id)
        .execute();
      this.#log.info({ contact: contact.id, reason: err.failure.reason }, 'profile not available');
    }
  }
}
