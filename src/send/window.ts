import type { Kysely } from 'kysely';
import { messagePolicy } from '../meta/policy.ts';
import type { SendBody } from '../meta/send.ts';
import { builder } from '../store/index.ts';
import { compile, param as p } from '../store/prepared.ts';
import type { Database } from '../store/schema.ts';

// The 24-hour window of a conversation: checked when a send is queued (engine/outbox.ts) and again
// when it goes, as it may have closed while the send waited.

const lastInbound = compile<{ id: string }, { lastInboundAt: number | null }>(
  builder.selectFrom('conversations').select('lastInboundAt').where('id', '=', p<string>('id')),
);

/** A conversation's window: when the customer last wrote (null: never); undefined if there is no such conversation. */
export async function conversationWindow(
  db: Kysely<Database>,
  conversationId: string,
): Promise<{ lastInboundAt: number | null } | undefined> {
  const c = await lastInbound.first(db, { id: conversationId });
  return c && { lastInboundAt: c.lastInboundAt == null ? null : Number(c.lastInboundAt) };
}

/**
 * The policy again, as a send leaves: why it may no longer go, or null. A message to a customer
 * now between 24 hours and 7 days, which a person wrote, goes with the HUMAN_AGENT tag (set on
 * `body`); a sender action cannot have one. `lastInboundAt`: the conversation's, if already read.
 */
export async function windowRefusal(
  db: Kysely<Database>,
  row: { conversationId: string | null; human: number },
  body: SendBody,
  now: number,
  lastInboundAt?: number | null,
): Promise<{ reason: string; message: string } | null> {
  if (!row.conversationId || !('id' in body.recipient)) return null;
  const decision = messagePolicy({
    lastInboundAt:
      lastInboundAt !== undefined
        ? lastInboundAt
        : ((await conversationWindow(db, row.conversationId))?.lastInboundAt ?? null),
    human: row.human === 1,
    now,
  });
  if (!decision.allowed) return { reason: decision.reason, message: decision.message };
  if (decision.tag && !body.tag) {
    if (body.sender_action) return { reason: 'outside_window', message: 'The 24-hour window has closed' };
    Object.assign(body, { messaging_type: 'MESSAGE_TAG', tag: decision.tag });
  }
  return null;
}
