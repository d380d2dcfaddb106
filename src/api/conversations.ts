import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { HandoverResult, Owner } from '../engine/handover.ts';
import {
  conversationAddress,
  findConversation,
  listConversations,
  updateConversation,
} from '../store/conversations.ts';
import { listMessages } from '../store/messages.ts';
import type { PageKey } from '../store/pages.ts';
import type { Database } from '../store/schema.ts';
import { sees } from './auth.ts';
import { errors } from './errors.ts';
import { Conversation, Message, page } from './schemas.ts';
import { conversationView, messageView } from './views.ts';

// Read API: conversations, newest activity first, and the messages of one conversation.

const Page = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().optional().meta({ description: "The previous page's nextCursor." }),
});

const Status = z.enum(['open', 'pending', 'resolved']);
const Params = z.object({ id: z.string().meta({ description: 'cnv_…' }) });

const ListQuery = Page.extend({ status: Status.optional(), channelId: z.string().optional() });

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
  })
  .refine((c) => c.status !== undefined || c.tags !== undefined, 'give status or tags');

const MessagesQuery = Page.extend({ order: z.enum(['asc', 'desc']).default('desc') });

/** Opaque page cursors: the sort key of the last row returned. */
const encodeCursor = (key: PageKey) => Buffer.from(JSON.stringify(key)).toString('base64url');
function decodeCursor(cursor: string): PageKey | null {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    return Array.isArray(v) && Number.isFinite(v[0]) && typeof v[1] === 'string' ? [v[0], v[1]] : null;
  } catch {
    return null;
  }
}

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
      const { status, channelId, limit } = req.query;
      const channels = req.principal.channels;
      const found = await listConversations(db, {
        status,
        channelId,
        ...(channels && { channelIds: [...channels] }),
        limit,
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
      return {
        data: found.rows.map(messageView),
        nextCursor: found.more && last ? encodeCursor([Number(last.createdAt), last.id]) : null,
      };
    },
  );
}
