import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { HandoverResult, Owner } from '../engine/handover.ts';
import {
  conversationAddress,
  findConversation,
  listConversations,
  markRead,
  updateConversation,
} from '../store/conversations.ts';
import { keptMediaOf } from '../store/kept-media.ts';
import { listMessages } from '../store/messages.ts';
import { addNote, listNotes } from '../store/notes.ts';
import type { Database } from '../store/schema.ts';
import { sees } from './auth.ts';
import { errors } from './errors.ts';
import { decodeCursor, encodeCursor, Page } from './pages.ts';
import { Conversation, Message, Note, page } from './schemas.ts';
import { conversationView, messageView, noteView } from './views.ts';

// Read API: conversations, newest activity first, and the messages of one conversation.

const Status = z.enum(['open', 'pending', 'resolved']);
const Params = z.object({ id: z.string().meta({ description: 'cnv_…' }) });

const ListQuery = Page.extend({
  status: Status.optional(),
  channelId: z.string().optional(),
  threadOwner: z.enum(['bot', 'human']).optional(),
  assignee: z
    .string()
    .max(100)
    .transform((a) => (a === '' ? null : a))
    .optional()
    .meta({ description: "An agent's name; empty (`assignee=`) for the conversations nobody is assigned." }),
  tag: z.string().min(1).max(64).optional(),
  unread: z
    .enum(['true', 'false'])
    .transform((u) => u === 'true')
    .optional()
    .meta({ description: 'true: with messages no agent has read; false: all read.' }),
  q: z.string().min(1).max(200).optional().meta({
    description: 'Words a message of the conversation contains (full-text; each word also as a prefix).',
  }),
});

// Who answers: the bot (automation) or a human (the inbox, or the Instagram app).
const Handover = z.strictObject({ to: z.enum(['human', 'bot']) });
const Handed = Conversation.extend({
  routingError: z.string().optional().meta({
    description: "Set when Meta's thread control refused the move (igdm's state moved all the same).",
  }),
});

const Change = z
  .strictObject({
    status: Status.optional(),
    tags: z.array(z.string().trim().min(1).max(64)).max(50).optional(),
    assignee: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .nullable()
      .optional()
      .meta({ description: "An agent's name, or null to unassign." }),
  })
  .refine(
    (c) => c.status !== undefined || c.tags !== undefined || c.assignee !== undefined,
    'give status, tags or assignee',
  );

const NewNote = z.strictObject({ text: z.string().trim().min(1).max(10_000) });
/** Marking read takes no fields; the body may be left out. */
const MarkRead = z.preprocess((body) => body ?? {}, z.strictObject({}));

const MessagesQuery = Page.extend({ order: z.enum(['asc', 'desc']).default('desc') });

export async function conversationRoutes(
  scope: FastifyInstance,
  db: Kysely<Database>,
  handover: (conversationId: string, to: Owner) => Promise<HandoverResult>,
  now: () => number = Date.now,
) {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  /** The conversation exists and the caller's key sees its channel; else 404. */
  const visible = async (req: FastifyRequest, id: string) => {
    const address = await conversationAddress(db, id);
    if (!address || !sees(req, address.channelId)) throw errors.conversationNotFound(id);
  };

  app.get(
    '/v1/conversations',
    { schema: { querystring: ListQuery, response: { 200: page(Conversation) } } },
    async (req) => {
      const after = req.query.cursor === undefined ? undefined : decodeCursor(req.query.cursor);
      if (after === null) throw errors.invalidCursor();
      const channels = req.principal.channels;
      const found = await listConversations(db, {
        ...req.query,
        ...(channels && { channelIds: [...channels] }),
        after,
      });
      const last = found.rows.at(-1);
      return {
        data: found.rows.map((r) => conversationView(r, now())),
        nextCursor: found.more && last ? encodeCursor([Number(last.lastMessageAt ?? 0), last.id]) : null,
      };
    },
  );

  app.post(
    '/v1/conversations/:id/handover',
    { schema: { params: Params, body: Handover, response: { 200: Handed } } },
    async (req) => {
      await visible(req, req.params.id);
      const moved = await handover(req.params.id, req.body.to);
      const row = (await findConversation(db, req.params.id))!;
      return {
        ...conversationView(row, now()),
        ...(moved.routingError && { routingError: moved.routingError }),
      };
    },
  );

  app.patch(
    '/v1/conversations/:id',
    { schema: { params: Params, body: Change, response: { 200: Conversation } } },
    async (req) => {
      await visible(req, req.params.id);
      if (!(await updateConversation(db, req.params.id, req.body, now())))
        throw errors.conversationNotFound(req.params.id);
      const row = (await findConversation(db, req.params.id))!;
      return conversationView(row, now());
    },
  );

  app.get(
    '/v1/conversations/:id',
    { schema: { params: Params, response: { 200: Conversation } } },
    async (req) => {
      const row = await findConversation(db, req.params.id);
      if (!row || !sees(req, row.channelId)) throw errors.conversationNotFound(req.params.id);
      return conversationView(row, now());
    },
  );

  app.post(
    '/v1/conversations/:id/read',
    { schema: { params: Params, body: MarkRead, response: { 200: Conversation } } },
    async (req) => {
      await visible(req, req.params.id);
      if (!(await markRead(db, req.params.id, now()))) throw errors.conversationNotFound(req.params.id);
      return conversationView((await findConversation(db, req.params.id))!, now());
    },
  );

  app.post(
    '/v1/conversations/:id/notes',
    { schema: { params: Params, body: NewNote, response: { 201: Note } } },
    async (req, reply) => {
      await visible(req, req.params.id);
      // Its author: the agent whose key wrote it (null for a key that names nobody).
      const note = await addNote(
        db,
        req.params.id,
        { text: req.body.text, author: req.principal.agent },
        now(),
      );
      return reply.code(201).send(noteView(note));
    },
  );

  app.get(
    '/v1/conversations/:id/notes',
    { schema: { params: Params, response: { 200: z.object({ data: z.array(Note) }) } } },
    async (req) => {
      await visible(req, req.params.id);
      return { data: (await listNotes(db, req.params.id)).map(noteView) };
    },
  );

  app.get(
    '/v1/conversations/:id/messages',
    { schema: { params: Params, querystring: MessagesQuery, response: { 200: page(Message) } } },
    async (req) => {
      const after = req.query.cursor === undefined ? undefined : decodeCursor(req.query.cursor);
      if (after === null) throw errors.invalidCursor();
      await visible(req, req.params.id);
      const { order, limit } = req.query;
      const found = await listMessages(db, req.params.id, { order, limit, after });
      const last = found.rows.at(-1);
      const kept = await keptMediaOf(
        db,
        found.rows.map((m) => m.id),
      );
      return {
        data: found.rows.map((m) => messageView(m, kept.get(m.id))),
        nextCursor: found.more && last ? encodeCursor([Number(last.createdAt), last.id]) : null,
      };
    },
  );
}
