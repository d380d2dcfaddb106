import { seg, type Transport } from './transport.ts';
import type { SavedReply } from './types.ts';

// Saved replies: the team's texts, each with a unique shortcut (1 to 32 of a-z, 0-9, "_", "-";
// lower-cased). Shared by every key; reading needs `read`, changing `send`.

export interface NewSavedReply {
  shortcut: string;
  /** At most 1000 bytes of UTF-8 (Meta's limit for a message). */
  text: string;
}

export class SavedReplies {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  /** Every saved reply, by shortcut. */
  async list(): Promise<SavedReply[]> {
    const { data } = await this.#t.request<{ data: SavedReply[] }>({
      method: 'GET',
      path: '/v1/saved-replies',
    });
    return data;
  }

  /** Throws IgdmError 409 `saved_reply_exists` when the shortcut is taken. */
  create(reply: NewSavedReply): Promise<SavedReply> {
    return this.#t.request({ method: 'POST', path: '/v1/saved-replies', body: reply });
  }

  update(id: string, change: Partial<NewSavedReply>): Promise<SavedReply> {
    return this.#t.request({ method: 'PATCH', path: `/v1/saved-replies/${seg(id)}`, body: change });
  }

  async delete(id: string): Promise<void> {
    await this.#t.request({ method: 'DELETE', path: `/v1/saved-replies/${seg(id)}` });
  }
}
