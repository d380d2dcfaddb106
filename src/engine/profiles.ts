import type { Kysely } from 'kysely';
import { GraphClient, GraphError } from '../graph/client.ts';
import type { Logger } from '../log.ts';
import type { Channel } from '../store/channels.ts';
import {
  type ContactRef,
  contactsOf,
  profileUnavailable,
  saveProfile,
  unprofiledContact,
} from '../store/contacts.ts';
import type { ChannelHealth, Database } from '../store/schema.ts';

// Contacts' names, usernames and pictures come from Meta's user profile API, asked once when a
// customer first writes and again after a day. One request at a time: profiles are not urgent.

const DAY = 24 * 60 * 60 * 1000;
/** Conversations remembered as fresh; past this the memory starts again (and asks the store). */
const MAX_FRESH = 100_000;

export class Profiles {
  readonly #db: Kysely<Database>;
  readonly #channels: () => readonly Channel[];
  readonly #health: (channelId: string) => ChannelHealth;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #waiting = new Set<string>();
  /** Per conversation: its contact's profile was checked and is not due again before then. */
  readonly #freshUntil = new Map<string, number>();
  #running: Promise<void> | null = null;

  constructor(deps: {
    db: Kysely<Database>;
    channels: () => readonly Channel[];
    health: (channelId: string) => ChannelHealth;
    log: Logger;
    now?: () => number;
  }) {
    this.#db = deps.db;
    this.#channels = deps.channels;
    this.#health = deps.health;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
  }

  /** Conversations changed: refresh their contacts' profiles when due. */
  touched(conversationIds: string[]): void {
    for (const id of conversationIds) this.#waiting.add(id);
    this.#running ??= this.#work()
      // The store failed (a full disk): those contacts are looked at again when they next write.
      .catch((err) => this.#log.error({ err }, 'could not refresh contact profiles'))
      .finally(() => {
        this.#running = null;
      });
  }

  /** The contact's profile, asked now if it never was (a reply is about to use the name). */
  async ensure(contactId: string): Promise<void> {
    const contact = await unprofiledContact(this.#db, contactId);
    if (contact) await this.#refresh(contact);
  }

  /** Their contacts were erased: a later message makes a new one, whose profile is asked again. */
  forget(conversationIds: readonly string[]): void {
    for (const id of conversationIds) this.#freshUntil.delete(id);
  }

  /** Resolves when nothing is waiting (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #work() {
    while (this.#waiting.size) {
      const now = this.#now();
      const ids: string[] = [];
      for (const id of this.#waiting) {
        this.#waiting.delete(id);
        if ((this.#freshUntil.get(id) ?? 0) <= now) ids.push(id);
        if (ids.length === 100) break;
      }
      if (ids.length === 0) continue;
      const contacts = await contactsOf(this.#db, ids);
      for (const contact of contacts) {
        const checkedAt = contact.profileCheckedAt === null ? null : Number(contact.profileCheckedAt);
        if (checkedAt === null || checkedAt < now - DAY) await this.#refresh(contact);
        else this.#fresh(contact.conversationId, checkedAt + DAY);
      }
    }
  }

  /** Conversations whose contact need not be looked at before `until` (kept in memory, bounded). */
  #fresh(conversationId: string, until: number) {
    if (this.#freshUntil.size >= MAX_FRESH) this.#freshUntil.clear();
    this.#freshUntil.set(conversationId, until);
  }

  async #refresh(contact: ContactRef & { conversationId?: string }) {
    const channel = this.#channels().find((c) => c.id === contact.channelId);
    if (!channel?.accessToken || this.#health(channel.id) === 'needs_token') return;
    const now = this.#now();
    try {
      const p = await new GraphClient(channel, { timeoutMs: 5000 }).profile(contact.igsid);
      await saveProfile(
        this.#db,
        contact.id,
        { username: p.username ?? null, name: p.name ?? null, profilePic: p.profile_pic ?? null },
        now,
      );
    } catch (err) {
      if (!(err instanceof GraphError)) throw err;
      // Asked again tomorrow, not on every message meanwhile.
      await profileUnavailable(this.#db, contact.id, now);
      this.#log.info({ contact: contact.id, reason: err.failure.reason }, 'profile not available');
    }
    if (contact.conversationId) this.#fresh(contact.conversationId, now + DAY);
  }
}
