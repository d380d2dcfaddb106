import type { Message } from '@igdm/sdk';
import { failureText } from './refusals.ts';

// Who sent an outbound message and where it stands, as its bubble shows it.

export type Delivery = 'queued' | 'retrying' | 'sent' | 'seen' | 'failed';

export interface OutboundState {
  delivery: Delivery;
  /** Shown under the bubble: "Sent", "Failed: …". */
  label: string;
  /** Whether the agent may send it again (POST /v1/messages/:id/retry). */
  canRetry: boolean;
  /** Meta could not say whether an earlier try went: the customer may see it twice. */
  maybeTwice: boolean;
}

export function outboundState(m: Pick<Message, 'status' | 'error' | 'possibleDuplicate'>): OutboundState {
  const maybeTwice = m.possibleDuplicate;
  switch (m.status) {
    case 'sent':
      return { delivery: 'sent', label: 'Sent', canRetry: false, maybeTwice };
    case 'seen':
      return { delivery: 'seen', label: 'Seen', canRetry: false, maybeTwice };
    case 'failed':
      return { delivery: 'failed', label: `Failed: ${failureText(m.error)}`, canRetry: true, maybeTwice };
    default:
      // Queued, with the last failure while it waits for a retry or for Meta to confirm.
      if (m.error)
        return {
          delivery: 'retrying',
          label: `Retrying: ${failureText(m.error)}`,
          canRetry: false,
          maybeTwice,
        };
      return { delivery: 'queued', label: 'Queued', canRetry: false, maybeTwice };
  }
}

/** Who wrote it: the customer, the bot (and its rule), a person, the Instagram app or another system. */
export function authorLabel(
  m: Pick<Message, 'direction' | 'author' | 'agent' | 'isEcho'>,
  rule?: string,
): string {
  if (m.direction === 'inbound') return 'Customer';
  switch (m.author) {
    case 'bot':
      return rule ? `Bot · rule ${rule}` : 'Bot';
    case 'human':
      if (m.agent) return m.agent;
      return m.isEcho ? 'Instagram app' : 'Agent';
    case 'api':
      return 'API';
    case 'approval':
      return 'Approval';
    default:
      return m.isEcho ? 'Instagram app' : 'Sent';
  }
}
