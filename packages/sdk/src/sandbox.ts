import type { Reaction } from './content.ts';
import type { Transport } from './transport.ts';

// The sandbox's control routes (/sandbox/…), served when igdm runs without Instagram credentials:
// simulated customers write, and the emulated Graph API shows what igdm sent and fails on request.

/** What a simulated customer does: one message (text, attachments ...) or one other act. */
export interface CustomerAction {
  /** An IGSID, a known username or name, or a new name; absent: a new customer. */
  from?: string;
  text?: string;
  attachments?: { type: string; url?: string; payload?: Record<string, unknown> }[];
  /** A quick-reply tap. */
  quickReplyPayload?: string;
  storyMention?: { url?: string; id?: string };
  storyReply?: { url?: string; id?: string };
  /** A product shared from a shop (text may come with it). */
  product?: { id?: string; retailerId?: string; name?: string; price?: string; imageUrl?: string };
  /** The mid of the message this one quotes. */
  replyTo?: string;
  reaction?:
    | { mid: string; action?: 'react'; reaction: Reaction; emoji?: string }
    | { mid: string; action: 'unreact' };
  postback?: { title?: string; payload: string };
  referral?: { ref?: string; source?: string; type?: string };
  /** The customer saw this message. */
  read?: string;
  /** The customer unsent this message of theirs. */
  unsend?: string;
  /** The customer commented on a post (answer with `messages.send({ commentId })`). */
  comment?: {
    text: string;
    mediaId?: string;
    /** On a live video (a `live_comments` change). */
    live?: boolean;
    /** A reply to this comment. */
    parentId?: string;
    /** Give the comment's id as `comment_id` rather than `id` in the webhook. */
    idAs?: 'id' | 'comment_id';
  };
}

export interface CustomerActionResult {
  /** The new message's mid (for a reaction, read or unsend, the mid it is about; null for a comment). */
  mid: string | null;
  igsid: string;
  username: string;
  commentId?: string;
  /** igdm's answer to the webhook: status 0 when it could not be reached. */
  delivered: { status: number; body?: string; error?: string };
}

/** A Send API call the sandbox received. */
export interface OutboxEntry {
  seq: number;
  /** Milliseconds since the epoch. */
  time: number;
  method: string;
  path: string;
  /** What igdm sent (the access token left out). */
  body: unknown;
  /** What the sandbox answered (status null: it never did). */
  answer: { status: number | null; body: unknown };
  messageId: string | null;
  recipientId: string | null;
  /** The injected failure this call got. */
  failure: string | null;
}

export type FailureKind =
  | '5xx'
  | 'timeout'
  | 'throttle'
  | 'token_expired'
  | 'outside_window'
  | 'policy_block'
  | 'network_reset'
  | 'late_answer'
  | 'garbled_answer'
  | 'huge_answer'
  | 'cut_answer';

/** The next `count` Graph calls (to the `path` edge only, when given) fail as `kind` says. */
export interface FailureRequest {
  kind: FailureKind;
  count?: number;
  /** An edge: `messages`, `messenger_profile` ... */
  path?: string;
  /** 5xx: the status (500-599). */
  status?: number;
  /** 5xx: no body. */
  empty?: boolean;
  /** throttle: Meta's estimate, in minutes. */
  regainAccessMinutes?: number;
  /** late_answer: how long after the call the answer comes. */
  delayMs?: number;
  garble?: 'empty' | 'truncated' | 'html';
  /** huge_answer: its length. */
  sizeBytes?: number;
  /** After-delivery kinds: false loses the echo too. */
  echo?: boolean;
}

export interface PendingFailure extends Omit<FailureRequest, 'count' | 'path'> {
  id: number;
  remaining: number;
  path: string | null;
}

export interface SandboxCustomer {
  igsid: string;
  name: string;
  username: string;
  /** Milliseconds since the epoch; null if they never wrote. */
  lastInboundAt: number | null;
}

export class Sandbox {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  /** A simulated customer acts; resolves once igdm has answered the signed webhook. */
  customerActs(action: CustomerAction): Promise<CustomerActionResult> {
    return this.#t.request({ method: 'POST', path: '/sandbox/messages', body: action });
  }

  /** What igdm sent through the Send API, oldest first; `after` a `seq` for only the newer calls. */
  async outbox(options: { after?: number } = {}): Promise<OutboxEntry[]> {
    const { data } = await this.#t.request<{ data: OutboxEntry[] }>({
      method: 'GET',
      path: '/sandbox/outbox',
      query: { after: options.after },
    });
    return data;
  }

  /** Empties the outbox; answers how many calls it held. */
  async clearOutbox(): Promise<number> {
    return (await this.#t.request<{ cleared: number }>({ method: 'DELETE', path: '/sandbox/outbox' }))
      .cleared;
  }

  /** Makes the next Graph calls fail. */
  injectFailure(failure: FailureRequest): Promise<PendingFailure> {
    return this.#t.request({ method: 'POST', path: '/sandbox/failures', body: failure });
  }

  /** The failures still to happen. */
  async failures(): Promise<PendingFailure[]> {
    return (await this.#t.request<{ data: PendingFailure[] }>({ method: 'GET', path: '/sandbox/failures' }))
      .data;
  }

  async clearFailures(): Promise<number> {
    return (await this.#t.request<{ cleared: number }>({ method: 'DELETE', path: '/sandbox/failures' }))
      .cleared;
  }

  async customers(): Promise<SandboxCustomer[]> {
    return (await this.#t.request<{ data: SandboxCustomer[] }>({ method: 'GET', path: '/sandbox/customers' }))
      .data;
  }

  /**
   * A simulated outage: while `down`, customers' messages are kept (the emulated Conversations API
   * shows them) but no webhook reaches igdm. Returns the state now in force.
   */
  async setOutage(down: boolean): Promise<boolean> {
    return (
      await this.#t.request<{ down: boolean }>({ method: 'PUT', path: '/sandbox/outage', body: { down } })
    ).down;
  }
}
