import type { PageOptions } from './conversations.ts';
import { pages } from './pages.ts';
import { seg, type Transport } from './transport.ts';
import type { Contact, ContactErasure, ContactExport, ContactWithConversations, Page } from './types.ts';

export interface ContactFilter extends PageOptions {
  channelId?: string;
  /** A part of the username or name. */
  q?: string;
}

export class Contacts {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  /** One page, newest first. */
  list(filter: ContactFilter = {}): Promise<Page<Contact>> {
    return this.#t.request({ method: 'GET', path: '/v1/contacts', query: { ...filter } });
  }

  /** Every contact the filter matches, page after page. */
  listAll(filter: Omit<ContactFilter, 'cursor'> = {}): AsyncGenerator<Contact> {
    return pages((cursor) => this.list({ ...filter, cursor }));
  }

  /** A contact with their profile and conversations. */
  get(id: string): Promise<ContactWithConversations> {
    return this.#t.request({ method: 'GET', path: `/v1/contacts/${seg(id)}` });
  }

  /** Everything igdm holds about the contact: profile, conversations, messages, notes, sends, events,
   * and the webhook events Meta sent about them. */
  export(id: string): Promise<ContactExport> {
    return this.#t.request({ method: 'GET', path: `/v1/contacts/${seg(id)}/export` });
  }

  /**
   * Erases everything igdm holds about the contact, for good (an admin key's). Throws an IgdmError
   * `contact_busy` (409) while work on them is in flight: try again in a few seconds. Called again
   * for an erased contact, it answers the same record.
   */
  erase(id: string): Promise<ContactErasure> {
    return this.#t.request({ method: 'DELETE', path: `/v1/contacts/${seg(id)}` });
  }
}
