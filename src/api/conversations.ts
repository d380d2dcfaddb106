import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { HandoverResult, Owner } from '../engine/handover.ts';
import {
  conversationExists,
  findConversation,
  listConversations,
  updateConversation,
} from '../store/conversations.ts';
import { listMessages } from '../store/messages.ts';
import type { PageKey } from '../store/pages.ts';
import type { Database } from '../store/schema.ts';
import { errors } from './errors.ts';
import { conversationView, messageView } from './views.ts';

// Read API: conversations, newest activity first, and the messages of one conversation.

const Page = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().optional(),
});

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
  app: FastifyInstance,
  db: Kysely<Database>,
  handover: (conversationId: string, to: Owner) => Promise<HandoverResult>,
  now: () => number = Date.now,
) {
  const ListQuery = Page.extend({
    status: z.enum(['open', 'pending', 'resolved']).optional(),
    channelId: z.string().optional(),
  });

  app.get('/v1/conversations', async (req) => {
    const q = ListQuery.safeParse(req.query);
    if (!q.success) throw errors.invalidQuery(z.prettifyError(q.error));
    const after = q.data.cursor === undefined ? undefined : decodeCursor(q.data.cursor);
    if (after === null) throw errors.invalidCursor();
    const { status, channelId, limit } = q.data;
    const page = await listConversations(db, { status, channelId, limit, after });
    const last = page.rows.at(-1);
    return {
      data: page.rows.map((r) => conversationView(r, now())),
      nextCursor: page.more && last ? encodeCursor([Number(last.lastMessageAt ?? 0), last.id]) : null,
    };
  });

  // Who answers: the bot (automation) or a human (the inbox, or the Instagram app).
  const Handover = z.strictObject({ to: z.enum(['human', 'bot']) });
  app.post<{ Params: { id: string } }>('/v1/conversations/:id/handover', async (req) => {
    const body = Handover.safeParse(req.body);
    if (!body.success) throw errors.invalidRequest(z.prettifyError(body.error));
    if (!(await conversationExists(db, req.params.id))) throw errors.conversationNotFound(req.params.id);
    const moved = await handover(req.params.id, body.data.to);
    const row = (await findConversation(db, req.params.id))!;
    return {
      ...conversationView(row, now()),
      ...(moved.routingError && { routingError: moved.routingError }),
    };
  });

  const Change = z
    .strictObject({
      status: z.enum(['open', 'pending', 'resolved']).optional(),
      tags: z.array(z.string().trim().min(1).max(64)).max(50).optional(),
    })
    .refine((c) => c.status !== undefined || c.tags !== undefined, 'give status or tags');
  app.patch<{ Params: { id: string } }>('/v1/conversations/:id', async (req) => {
    const body = Change.safeParse(req.body);
    if (!body.success) throw errors.invalidRequest(z.prettifyError(body.error));
    if (!(await updateConversation(db, req.params.id, body.data, now())))
      throw errors.conversationNotFound(req.params.id);
    const row = (await findConversation(db, req.params.id))!;
    return conversationView(row, now());
  });

  app.get<{ Params: { id: string } }>('/v1/conversations/:id', async (req) => {
    const row = await findConversation(db, req.params.id);
    if (!row) throw errors.conversationNotFound(req.params.id);
    return conversationView(row, now());
  });

  const MessagesQuery = Page.extend({ order: z.enum(['asc', 'desc']).default('desc') });

  app.get<{ Params: { id: string } }>('/v1/conversations/:id/messages', async (req) => {
    const q = MessagesQuery.safeParse(req.query);
    if (!q.success) throw errors.invalidQuery(z.prettifyError(q.error));
    const after = q.data.cursor === undefined ? undefined : decodeCursor(q.data.cursor);
    if (after === null) throw errors.invalidCursor();
    if (!(await conversationExists(db, req.params.id))) throw errors.conversationNotFound(req.params.id);
    const { order, limit } = q.data;
    const page = await listMessages(db, req.params.id, { order, limit, after });
    const last = page.rows.at(-1);
    return {
      data: page.rows.map(messageView),
      nextCursor: page.more && last ? encodeCursor([Number(last.createdAt), last.id]) : null,
    };
  });
}
