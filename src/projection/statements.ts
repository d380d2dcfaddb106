import type { DatabaseSync } from 'node:sqlite';
import { type Compilable, type Expression, sql } from 'kysely';
import { builder } from '../store/builder.ts';
import { insertContact, type NewContact } from '../store/contacts.ts';
import { insertConversation, type NewConversation } from '../store/conversations.ts';
import { type EventArgs, insertEvent } from '../store/events.ts';
import { type Prepared, param as p, prepare } from '../store/prepared.ts';
import { STORED_EVENT_COLUMNS } from '../store/webhook-events.ts';

// The projection's statements, written once with Kysely and prepared on the projector's connection
// (store/prepared.ts): it runs them for every event. On PostgreSQL the same queries are compiled for
// its pool instead (postgres-statements.ts). Every write is an upsert keyed by Meta's ids, or
// moves a clock forward only, so that applying an event twice, or out of order, ends the same.

/** The later of a column and a time (portable: SQLite's max(a, b) is PostgreSQL's greatest). */
const later = (column: Expression<number | null>, at: number) =>
  sql<number>`case when ${column} is not null and ${column} > ${at} then ${column} else ${at} end`;

export type MessageArgs = {
  id: string;
  channelId: string;
  conversationId: string;
  mid: string;
  direction: string;
  type: string;
  text: string | null;
  attachments: string;
  replyTo: string | null;
  payload: string | null;
  referral: string | null;
  status: string;
  isEcho: number;
  author: string | null;
  at: number;
  now: number;
};

/** A query and the arguments its parameters take. */
export interface Query<A> {
  query: Compilable;
  /** Type only. */
  args?: A;
}
const q = <A>(query: Compilable): Query<A> => ({ query });

export type Queries = ReturnType<typeof projectionQueries>;
export type ArgsOf<Q> = Q extends Query<infer A> ? A : never;

/** The statements on a SQLite connection, run synchronously. */
export type Statements = { [K in keyof Queries]: Prepared<ArgsOf<Queries[K]>> };

export function statements(sqlite: DatabaseSync): Statements {
  const queries = projectionQueries();
  return Object.fromEntries(
    Object.entries(queries).map(([name, { query }]) => [name, prepare(sqlite, query)]),
  ) as Statements;
}

/** The projection's queries, built once per connection that runs them. */
export function projectionQueries() {
  const db = builder;
  const at = p<number>('at');
  const now = p<number>('now');
  const id = p<string>('id');
  const messageValues = {
    id,
    channelId: p<string>('channelId'),
    conversationId: p<string>('conversationId'),
    mid: p<string>('mid'),
    direction: p<string>('direction'),
    type: p<string>('type'),
    text: p<string | null>('text'),
    attachments: p<string>('attachments'),
    replyTo: p<string | null>('replyTo'),
    payload: p<string | null>('payload'),
    referral: p<string | null>('referral'),
    reactions: '[]',
    status: p<string>('status'),
    isEcho: p<number>('isEcho'),
    author: p<string | null>('author'),
    editedAt: null,
    deletedAt: null,
    seenAt: null,
    createdAt: at,
    updatedAt: now,
  };
  return {
    pending: q<{ limit: number }>(
      db
        .selectFrom('webhookEvents')
        .select(STORED_EVENT_COLUMNS)
        .where('appliedAt', 'is', null)
        .orderBy('metaTimestamp')
        .orderBy('id')
        .limit(p<number>('limit')),
    ),
    /** Events not applied yet (counted up to a cap), and when the oldest of them was received. */
    backlog: q<{ cap: number }>(
      db
        .selectFrom((eb) =>
          eb
            .selectFrom('webhookEvents')
            .select('receivedAt')
            .where('appliedAt', 'is', null)
            .limit(p<number>('cap'))
            .as('unapplied'),
        )
        .select((eb) => [eb.fn.countAll<number>().as('events'), eb.fn.min('receivedAt').as('oldest')]),
    ),
    markApplied: q<{ id: number; now: number; status: string; error: string | null }>(
      db
        .updateTable('webhookEvents')
        .set({
          appliedAt: now,
          applyStatus: p<'applied' | 'unapplied' | 'ignored'>('status'),
          applyError: p<string | null>('error'),
        })
        .where('id', '=', p<number>('id')),
    ),
    conversation: q<{ id: string }>(
      db.selectFrom('conversations').select(['id', 'readUpTo', 'readAt']).where('id', '=', id),
    ),
    insertContact: q<NewContact>(insertContact(db)),
    /** The event log (store/events.ts). */
    insertEvent: q<EventArgs>(insertEvent),
    insertConversation: q<NewConversation>(insertConversation(db)),
    /** Where the conversation came from: its earliest referral (by Meta's time) wins. */
    setSource: q<{ id: string; source: string; at: number }>(
      db
        .updateTable('conversations')
        .set({ source: p('source'), sourceAt: at })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('sourceAt', 'is', null), eb('sourceAt', '>', at)])),
    ),
    /** Moves the clocks forward only: events can arrive out of order. */
    touch: q<{ id: string; at: number; now: number; inbound: number; message: number }>(
      db
        .updateTable('conversations')
        .set((eb) => ({
          updatedAt: now,
          lastMessageAt: sql<number>`case when ${p('message')} = 1 then ${later(eb.ref('lastMessageAt'), at)} else ${eb.ref('lastMessageAt')} end`,
          lastInboundAt: sql<number>`case when ${p('inbound')} = 1 then ${later(eb.ref('lastInboundAt'), at)} else ${eb.ref('lastInboundAt')} end`,
        }))
        .where('id', '=', id),
    ),
    upsertMessage: q<MessageArgs>(
      db
        .insertInto('messages')
        .values(messageValues)
        // A row made earlier by an update that overtook its message (an early row) gets the content
        // now; its deletion, edit and reactions stay.
        .onConflict((oc) =>
          // The id is a hash of (channel, mid): it is the message's natural key.
          oc.column('id').doUpdateSet((eb) => ({
            direction: eb.ref('excluded.direction'),
            type: eb.ref('excluded.type'),
            text: sql<string | null>`coalesce(messages.text, excluded.text)`,
            attachments: eb.ref('excluded.attachments'),
            replyTo: eb.ref('excluded.replyTo'),
            payload: eb.ref('excluded.payload'),
            referral: eb.ref('excluded.referral'),
            isEcho: eb.ref('excluded.isEcho'),
            author: sql<string | null>`coalesce(messages.author, excluded.author)`,
            createdAt: eb.ref('excluded.createdAt'),
            updatedAt: eb.ref('excluded.updatedAt'),
            status: sql<string>`case when messages.type = 'unknown' then excluded.status else messages.status end`,
          })),
        ),
    ),
    /** The message's row, made early when an update overtakes the message itself. */
    ensureMessage: q<
      Omit<
        MessageArgs,
        | 'direction'
        | 'type'
        | 'text'
        | 'attachments'
        | 'replyTo'
        | 'payload'
        | 'referral'
        | 'status'
        | 'isEcho'
        | 'author'
      >
    >(
      db
        .insertInto('messages')
        .values({
          ...messageValues,
          direction: 'inbound',
          type: 'unknown',
          text: null,
          attachments: '[]',
          replyTo: null,
          payload: null,
          referral: null,
          status: 'received',
          isEcho: 0,
          author: null,
        })
        .onConflict((oc) => oc.column('id').doNothing()),
    ),
    insertComment: q<{
      id: string;
      channelId: string;
      commentId: string;
      igsid: string | null;
      username: string | null;
      text: string | null;
      mediaId: string | null;
      parentId: string | null;
      source: string;
      mediaProductType: string | null;
      at: number;
    }>(
      db
        .insertInto('comments')
        .values({
          id,
          channelId: p('channelId'),
          commentId: p('commentId'),
          igsid: p('igsid'),
          username: p('username'),
          text: p('text'),
          mediaId: p('mediaId'),
          parentId: p('parentId'),
          source: p('source'),
          mediaProductType: p('mediaProductType'),
          createdAt: at,
        })
        .onConflict((oc) => oc.column('id').doNothing()),
    ),
    sentByIgdm: q<{ channelId: string; mid: string }>(
      db
        .selectFrom('outbox')
        .select('messageId')
        .where('channelId', '=', p<string>('channelId'))
        .where('mid', '=', p<string>('mid')),
    ),
    message: q<{ id: string }>(
      db.selectFrom('messages').select(['id', 'createdAt', 'reactions']).where('id', '=', id),
    ),
    /** A message read back by a backfill (src/backfill/): flagged with its event. */
    setBackfilled: q<{ id: string }>(db.updateTable('messages').set({ backfilled: 1 }).where('id', '=', id)),
    setDeleted: q<{ id: string; at: number; now: number }>(
      db.updateTable('messages').set({ deletedAt: at, updatedAt: now }).where('id', '=', id),
    ),
    setEdited: q<{ id: string; text: string; at: number; now: number }>(
      db
        .updateTable('messages')
        .set({ text: p('text'), editedAt: at, updatedAt: now })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('editedAt', 'is', null), eb('editedAt', '<=', at)])),
    ),
    setReactions: q<{ id: string; reactions: string; now: number }>(
      db
        .updateTable('messages')
        .set({ reactions: p('reactions'), updatedAt: now })
        .where('id', '=', id),
    ),
    setReadMark: q<{ id: string; upTo: number; at: number; now: number }>(
      db
        .updateTable('conversations')
        .set((eb) => ({
          readUpTo: later(eb.ref('readUpTo'), p('upTo')),
          readAt: later(eb.ref('readAt'), at),
          updatedAt: now,
        }))
        .where('id', '=', id),
    ),
    /** Marks the outbound messages up to the conversation's read mark as seen (none without a mark). */
    markSeen: q<{ conversationId: string; now: number }>(
      db
        .updateTable('messages')
        .from('conversations')
        .set((eb) => ({ status: 'seen', seenAt: eb.ref('conversations.readAt'), updatedAt: now }))
        .whereRef('messages.conversationId', '=', 'conversations.id')
        .where('conversations.id', '=', p<string>('conversationId'))
        .where('conversations.readAt', 'is not', null)
        .where('messages.direction', '=', 'outbound')
        .whereRef('messages.createdAt', '<=', 'conversations.readUpTo')
        .where('messages.seenAt', 'is', null),
    ),
  };
}
