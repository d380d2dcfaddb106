import type { PageOptions } from './conversations.ts';
import { pages } from './pages.ts';
import type { Transport } from './transport.ts';
import type { Page, WebhookEvent, WebhookEventStatus } from './types.ts';

// The webhook events Meta sent, as stored, with what became of each (an admin key's): the ones igdm
// could not apply (`unapplied`) or deliberately did not (`ignored`) carry the reason.

export interface WebhookEventFilter extends PageOptions {
  status?: WebhookEventStatus;
  channelId?: string;
  /** message, echo, reaction, edit, comments, unknown, ... */
  kind?: string;
}

export class WebhookEvents {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  /** One page, newest first. Events still waiting to be applied are in no list yet. */
  list(filter: WebhookEventFilter = {}): Promise<Page<WebhookEvent>> {
    return this.#t.request({ method: 'GET', path: '/v1/webhook-events', query: { ...filter } });
  }

  /** Every event the filter matches, page after page. */
  listAll(filter: Omit<WebhookEventFilter, 'cursor'> = {}): AsyncGenerator<WebhookEvent> {
    return pages((cursor) => this.list({ ...filter, cursor }));
  }
}
