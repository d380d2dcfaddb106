import type { PageOptions } from './conversations.ts';
import { pages } from './pages.ts';
import { seg, type Transport } from './transport.ts';
import type { Comment, Page } from './types.ts';

// Comments on the account's media (and live videos, and comments that mention the account), newest
// first. A public reply, hiding and deleting go through Meta's Graph API: Meta's refusal is an
// IgdmError 502 with Meta's reason as its code. A private reply is a message:
// `client.messages.send({ commentId, content })`.

export interface CommentFilter extends PageOptions {
  channelId?: string;
  mediaId?: string;
  /** The author's id (`from.id`, an IGSID). */
  authorId?: string;
  /** The same as authorId. */
  from?: string;
}

export class Comments {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  /** One page, newest first. */
  list(filter: CommentFilter = {}): Promise<Page<Comment>> {
    return this.#t.request({ method: 'GET', path: '/v1/comments', query: { ...filter } });
  }

  /** Every comment the filter matches, page after page. */
  listAll(filter: Omit<CommentFilter, 'cursor'> = {}): AsyncGenerator<Comment> {
    return pages((cursor) => this.list({ ...filter, cursor }));
  }

  /** A comment by igdm's id (cmt_…) or Meta's comment id. */
  get(id: string): Promise<Comment> {
    return this.#t.request({ method: 'GET', path: `/v1/comments/${seg(id)}` });
  }

  /** A public reply under the comment; answers the reply (source `reply`). */
  reply(id: string, text: string): Promise<Comment> {
    return this.#t.request({ method: 'POST', path: `/v1/comments/${seg(id)}/replies`, body: { text } });
  }

  /** Hides the comment from everyone but its author (`hidden: false` shows it again). */
  hide(id: string, hidden = true): Promise<Comment> {
    return this.#t.request({ method: 'POST', path: `/v1/comments/${seg(id)}/hide`, body: { hidden } });
  }

  /** Deletes the comment at Meta; igdm keeps it, with `deletedAt`. */
  delete(id: string): Promise<Comment> {
    return this.#t.request({ method: 'DELETE', path: `/v1/comments/${seg(id)}` });
  }
}
