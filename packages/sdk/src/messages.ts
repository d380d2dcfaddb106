import type { Content } from './content.ts';
import { seg, type Transport } from './transport.ts';
import type { Message, SenderAction } from './types.ts';

interface SendCommon {
  /** The channel that sends it; default `default`. */
  channelId?: string;
  content: Content;
  /** A person's reply: allowed up to 7 days after the customer's last message (Meta's HUMAN_AGENT tag). */
  humanAgent?: boolean;
  /** The mid of the message this one quotes. */
  replyTo?: string;
}

/** To a customer (`to`, their IGSID) or, as a private reply, to a comment (`commentId`). */
export type SendRequest =
  | (SendCommon & { to: string; commentId?: never })
  | (SendCommon & { commentId: string; to?: never });

/** What a send answers: the queued message, or for a sender action (typing, seen, a reaction) its `out_…` entry. */
export type SendResult<C extends Content = Content> = C extends { type: 'typing' | 'mark_seen' | 'reaction' }
  ? SenderAction
  : Message;

export class Messages {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  /**
   * Queues a message (igdm answers 202 and delivers it exactly once). Throws IgdmError 422 with
   * `invalid_content` (and `issues`) or a policy code (`never_messaged`, `outside_window`,
   * `outside_human_agent_window`) when it cannot go.
   */
  send<C extends Content>(request: SendRequest & { content: C }): Promise<SendResult<C>> {
    return this.#t.request({ method: 'POST', path: '/v1/messages', body: request });
  }

  /** A failed message sent again (the policy is checked again now): answers it, queued. */
  retry(id: string): Promise<Message> {
    return this.#t.request({ method: 'POST', path: `/v1/messages/${seg(id)}/retry` });
  }

  /** A message (`msg_…`), or a sender action (`out_…`): `status` says whether it went. */
  get(id: string): Promise<Message | SenderAction> {
    return this.#t.request({ method: 'GET', path: `/v1/messages/${seg(id)}` });
  }
}
