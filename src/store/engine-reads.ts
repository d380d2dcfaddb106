import type { Kysely } from 'kysely';
import { builder } from './builder.ts';
import { type AutomationView, automationViewOf, automationViewQuery } from './conversations.ts';
import { compile, param as p } from './prepared.ts';
import type { Database } from './schema.ts';
import { STORED_EVENT_COLUMNS, type StoredEvent } from './webhook-events.ts';

// What an engine job reads first, in one statement: its stored event, and the conversation as the
// automation sees it (automationView's columns) for the job's key and time, which are the event's
// conversation and timestamp. On PostgreSQL each statement is a round trip; this was two per job.

type Read = StoredEvent & {
  threadOwner: string | null;
  intent: string | null;
  contactId: string | null;
  username: string | null;
  name: string | null;
  profileCheckedAt: number | null;
  wrote: unknown;
};

const eventAndView = compile<{ id: number; conversationId: string; before: number }, Read>(
  builder
    .selectFrom('webhookEvents')
    .leftJoin(automationViewQuery.as('view'), (join) => join.onTrue())
    .select(STORED_EVENT_COLUMNS.map((c) => `webhookEvents.${c}` as const))
    .select([
      'view.threadOwner',
      'view.intent',
      'view.contactId',
      'view.username',
      'view.name',
      'view.profileCheckedAt',
      'view.wrote',
    ])
    .where('webhookEvents.id', '=', p<number>('id')),
);

/**
 * The stored event `id`, and the conversation `conversationId` as it is now, with whether the
 * customer wrote in it before `before` (undefined: no such conversation, or no contact).
 */
export async function eventAndConversation(
  db: Kysely<Database>,
  id: number,
  conversationId: string,
  before: number,
): Promise<{ row: StoredEvent; view: AutomationView | undefined } | undefined> {
  const read = await eventAndView.first(db, { id, conversationId, before });
  if (!read) return undefined;
  const { threadOwner, intent, contactId, username, name, profileCheckedAt, wrote, ...row } = read;
  // No conversation (or contact): the left join's nulls.
  const view =
    threadOwner === null || contactId === null
      ? undefined
      : automationViewOf({ threadOwner, intent, contactId, username, name, profileCheckedAt, wrote });
  return { row, view };
}
