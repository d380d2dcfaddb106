import type { Kysely } from 'kysely';
import { builder } from '../store/index.ts';
import { compile, param as p } from '../store/prepared.ts';
import type { Database } from '../store/schema.ts';

// The 24-hour window of a conversation: checked when a send is queued (engine/outbox.ts) and again
// when it goes (time has passed meanwhile).

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
