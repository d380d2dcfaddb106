import type { GraphClient } from '../graph/client.ts';

// A send interrupted by a crash whose echo has not come by the end of its grace (reconcile.ts) may
// still have reached the customer: Meta retries a webhook it could not deliver for up to 36 hours,
// so the echo may only be late. Before igdm sends it again, it asks Meta's Conversations API whether
// the customer's conversation holds it. Meta lets the 20 newest messages of a conversation be read,
// each with a call of its own, at 2 calls/s per account (the caller's `paced` keeps to it).

export interface Sought {
  /** The customer (Instagram-scoped id). */
  igsid: string;
  /** The text sent; null for an attachment, a sticker or a template (shown without text). */
  text: string | null;
  /** Messages older than this cannot be the send (its claim, less the clocks' difference). */
  since: number;
}

export interface Found {
  mid: string;
  /** When Meta has it sent. */
  at: number;
}

/**
 * The message in the customer's conversation that is the send: newer than `since`, unknown to igdm
 * (`known` filters the mids it already has: inbound messages, echoes, its recorded sends), not from
 * the customer, with the same text (or, for a send without text, none). Throws GraphError when Meta
 * cannot be asked.
 */
export async function findSent(
  client: GraphClient,
  sought: Sought,
  deps: {
    paced: <T>(call: () => Promise<T>) => Promise<T>;
    known: (mids: string[]) => Promise<Set<string>>;
  },
): Promise<Found | null> {
  const conversation = await deps.paced(() => client.conversationWith(sought.igsid));
  if (!conversation) return null;
  // Meta's times are in whole seconds.
  const recent = (await deps.paced(() => client.conversationMessages(conversation))).filter(
    (m) => !(m.createdTime < sought.since - 1000),
  );
  const known = await deps.known(recent.map((m) => m.id));
  for (const m of recent.filter((r) => !known.has(r.id)).reverse()) {
    const detail = await deps.paced(() => client.message(m.id));
    if (detail.from?.id === sought.igsid) continue;
    const text = detail.message ?? '';
    if (sought.text === null ? text === '' : text === sought.text) {
      return { mid: m.id, at: Number.isNaN(m.createdTime) ? sought.since : m.createdTime };
    }
  }
  return null;
}
