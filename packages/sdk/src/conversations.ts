import { pages } from './pages.ts';
import { seg, type Transport } from './transport.ts';
import type {
  Conversation,
  ConversationStatus,
  HandedConversation,
  Message,
  Note,
  Owner,
  Page,
} from './types.ts';

export interface PageOptions {
  /** 1 to 200; default 50. */
  limit?: number;
  /** The previous page's `nextCursor`. */
  cursor?: string;
}

export interface ConversationFilter extends PageOptions {
  status?: ConversationStatus;
  channelId?: string;
  threadOwner?: Owner;
  /** An agent's name; '' for the conversations nobody is assigned. */
  assignee?: string;
  tag?: string;
  /** true: with messages no agent has read; false: all read. */
  unread?: boolean;
  /** Words a message of the conversation contains (full-text). */
  q?: string;
}

export interface MessageListOptions extends PageOptions {
  /** `desc` (newest first, the default) or `asc`. */
  order?: 'asc' | 'desc';
}

export interface ConversationChange {
  status?: ConversationStatus;
  /** Replaces the tags. */
  tags?: string[];
  /** The agent who handles it; null to unassign. */
  assignee?: string | null;
}

export class Conversations {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  /** One page, newest activity first. */
  list(filter: ConversationFilter = {}): Promise<Page<Conversation>> {
    return this.#t.request({ method: 'GET', path: '/v1/conversations', query: { ...filter } });
  }

  /** Every conversation the filter matches, page after page: `for await (const c of listAll())`. */
  listAll(filter: Omit<ConversationFilter, 'cursor'> = {}): AsyncGenerator<Conversation> {
    return pages((cursor) => this.list({ ...filter, cursor }));
  }

  get(id: string): Promise<Conversation> {
    return this.#t.request({ method: 'GET', path: `/v1/conversations/${seg(id)}` });
  }

  /** Sets its status, tags or assignee (give at least one). */
  update(id: string, change: ConversationChange): Promise<Conversation> {
    return this.#t.request({ method: 'PATCH', path: `/v1/conversations/${seg(id)}`, body: change });
  }

  /** Hands it to humans (the bot falls silent) or back to the bot. */
  handover(id: string, to: Owner): Promise<HandedConversation> {
    return this.#t.request({ method: 'POST', path: `/v1/conversations/${seg(id)}/handover`, body: { to } });
  }

  /** Read by agents: its unread count goes to 0. */
  read(id: string): Promise<Conversation> {
    return this.#t.request({ method: 'POST', path: `/v1/conversations/${seg(id)}/read`, body: {} });
  }

  /** Its internal notes, oldest first (never sent to the customer). */
  async notes(id: string): Promise<Note[]> {
    const r = await this.#t.request<{ data: Note[] }>({
      method: 'GET',
      path: `/v1/conversations/${seg(id)}/notes`,
    });
    return r.data;
  }

  /** Adds an internal note; written by the agent of the key, if it names one. */
  addNote(id: string, text: string): Promise<Note> {
    return this.#t.request({ method: 'POST', path: `/v1/conversations/${seg(id)}/notes`, body: { text } });
  }

  /** One page of its messages. */
  messages(id: string, options: MessageListOptions = {}): Promise<Page<Message>> {
    return this.#t.request({
      method: 'GET',
      path: `/v1/conversations/${seg(id)}/messages`,
      query: { ...options },
    });
  }

  /** All its messages, page after page. */
  allMessages(id: string, options: Omit<MessageListOptions, 'cursor'> = {}): AsyncGenerator<Message> {
    return pages((cursor) => this.messages(id, { ...options, cursor }));
  }
}
