import { pages } from './pages.ts';
import { seg, type Transport } from './transport.ts';
import type { Conversation, ConversationStatus, HandedConversation, Message, Owner, Page } from './types.ts';

export interface PageOptions {
  /** 1 to 200; default 50. */
  limit?: number;
  /** The previous page's `nextCursor`. */
  cursor?: string;
}

export interface ConversationFilter extends PageOptions {
  status?: ConversationStatus;
  channelId?: string;
}

export interface MessageListOptions extends PageOptions {
  /** `desc` (newest first, the default) or `asc`. */
  order?: 'asc' | 'desc';
}

export interface ConversationChange {
  status?: ConversationStatus;
  /** Replaces the tags. */
  tags?: string[];
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

  /** Sets its status or tags (give at least one). */
  update(id: string, change: ConversationChange): Promise<Conversation> {
    return this.#t.request({ method: 'PATCH', path: `/v1/conversations/${seg(id)}`, body: change });
  }

  /** Hands it to humans (the bot falls silent) or back to the bot. */
  handover(id: string, to: Owner): Promise<HandedConversation> {
    return this.#t.request({ method: 'POST', path: `/v1/conversations/${seg(id)}/handover`, body: { to } });
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
