import { IgdmError } from '@igdm/sdk';

// igdm's refusals in plain words: what the agent sees when a send or an action cannot be done.

const WORDS: Record<string, string> = {
  outside_window:
    "The 24-hour window has closed: only a human agent's reply may go now (up to 7 days after the customer's last message).",
  outside_human_agent_window:
    'More than 7 days have passed since the customer last wrote: Instagram allows no reply until they write again.',
  never_messaged: 'This person has never written to you: Instagram allows no first message.',
  unauthorized: 'Your API key is no longer valid: sign in again.',
  forbidden: 'Your API key may not do this (it lacks the scope).',
  message_not_failed: 'This message has not failed: there is nothing to retry.',
  channel_not_found: "This conversation's channel no longer exists.",
  conversation_not_found: 'This conversation no longer exists.',
  body_too_large: 'The file is too large for Instagram.',
};

export function refusalText(err: unknown): string {
  if (err instanceof IgdmError) {
    if (err.code === 'invalid_content' && err.issues?.length)
      return `Instagram would refuse this message: ${err.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}.`;
    return WORDS[err.code] ?? err.message;
  }
  if (err instanceof TypeError) return 'igdm cannot be reached: check your connection.';
  return err instanceof Error ? err.message : String(err);
}

/** The reason a send failed at Meta, as the message's `error` holds it. */
export function failureText(error: unknown): string {
  const e = (error ?? {}) as { reason?: string; message?: string };
  const reason = e.reason ? (WORDS[e.reason] ?? e.reason.replaceAll('_', ' ')) : null;
  if (reason && e.message && e.message !== e.reason) return `${reason}: ${e.message}`;
  return reason ?? e.message ?? 'Instagram refused it.';
}
