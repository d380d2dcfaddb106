// Instagram's messaging policy, decided before a send leaves igdm (Meta would refuse it, and
// repeated refusals put the account at risk). Pure: the clock is an argument.
//
// - A business may answer within 24 hours of the customer's last message (a referral or a postback,
//   such as an ice-breaker tap, counts as one).
// - After that, only a human may answer, within 7 days, with the HUMAN_AGENT tag. Automation never
//   uses the tag.
// - No cold outreach: someone who never wrote cannot be messaged.
// - A private reply to a comment: one per comment, within 7 days of the comment.

export const HOUR = 60 * 60 * 1000;
export const STANDARD_WINDOW_MS = 24 * HOUR;
export const HUMAN_AGENT_WINDOW_MS = 7 * 24 * HOUR;
export const PRIVATE_REPLY_WINDOW_MS = 7 * 24 * HOUR;

export type PolicyRefusal =
  | 'never_messaged'
  | 'outside_window'
  | 'outside_human_agent_window'
  | 'private_reply_used'
  | 'private_reply_expired';

export type PolicyDecision =
  | { allowed: true; messagingType: 'RESPONSE' | 'MESSAGE_TAG'; tag?: 'HUMAN_AGENT' }
  | { allowed: false; reason: PolicyRefusal; message: string };

export interface MessagePolicyInput {
  /** When the customer last wrote (message, postback or referral), or null if never. */
  lastInboundAt: number | null;
  /** A person (an agent in the inbox, or a caller saying so) is sending, not automation. */
  human: boolean;
  now: number;
}

const refuse = (reason: PolicyRefusal, message: string): PolicyDecision => ({
  allowed: false,
  reason,
  message,
});

/** May this message go to a customer now, and how must it be tagged? */
export function messagePolicy({ lastInboundAt, human, now }: MessagePolicyInput): PolicyDecision {
  if (lastInboundAt === null) {
    return refuse(
      'never_messaged',
      'This person has never messaged the account; Instagram allows no cold outreach',
    );
  }
  const age = now - lastInboundAt;
  if (age < STANDARD_WINDOW_MS) return { allowed: true, messagingType: 'RESPONSE' };
  if (!human) {
    return refuse(
      'outside_window',
      'The 24-hour window since the customer last wrote has closed; only a human agent may reply (within 7 days)',
    );
  }
  if (age < HUMAN_AGENT_WINDOW_MS) return { allowed: true, messagingType: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' };
  return refuse(
    'outside_human_agent_window',
    'The customer last wrote over 7 days ago; no reply is possible until they write again',
  );
}

export interface PrivateReplyPolicyInput {
  /** When the comment was made. */
  commentedAt: number;
  /** A private reply to this comment was already sent. */
  alreadyReplied: boolean;
  now: number;
}

/** May igdm send a private reply to this comment? */
export function privateReplyPolicy({
  commentedAt,
  alreadyReplied,
  now,
}: PrivateReplyPolicyInput): PolicyDecision {
  if (alreadyReplied) {
    return refuse(
      'private_reply_used',
      'This comment already has its private reply; wait until the person answers',
    );
  }
  if (now - commentedAt >= PRIVATE_REPLY_WINDOW_MS) {
    return refuse('private_reply_expired', 'Private replies are possible only within 7 days of the comment');
  }
  return { allowed: true, messagingType: 'RESPONSE' };
}
