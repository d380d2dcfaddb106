import type { FastifyInstance } from 'fastify';
import type { Kysely, Selectable } from 'kysely';
import { z } from 'zod';
import type { HandoverResult, Owner } from '../engine/handover.ts';
import { HUMAN_AGENT_WINDOW_MS, STANDARD_WINDOW_MS } from '../meta/policy.ts';
import type { ContactTable, ConversationTable, Database, MessageTable } from '../store/schema.ts';
import { errors } from './errors.ts';

// Read API: conversations, newest activity first, and the messages of one conversation.

const WINDOW_MS = STANDARD_WINDOW_MS;
/** ISO time, or null for a time a Date cannot hold (Meta's timestamps are not trusted blindly). */
const iso = (ms: number | null) => {
  const d = new Date(Number(ms));
  return ms === null || Number.isNaN(d.getTime()) ? null : d.toISOString();
};

const Page = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().optional(),
});

/** Opaque page cursors: the sort key of the last row returned. */
const encodeCursor = (key: [number, string]) => Buffer.from(JSON.stringify(key)).toString('base64url');
function decodeCursor(cursor: string): [number, string] | null {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    return Array.isArray(v) && Number.isFinite(v[0]) && typeof v[1] === 'string' ? [v[0], v[1]] : null;
  } catch {
    return null;
  }
}

export function conversationView(
  c: Selectable<ConversationTable>,
  contact: Pick<Selectable<ContactTable>, 'username' | 'name' | 'profilePic'> | null,
  now = Date.now(),
) {
  const lastInbound = c.lastInboundAt === null ? null : Number(c.lastInboundAt);
  const closes = lastInbound === null ? null : lastInbound + WINDOW_MS;
  const humanCloses = lastInbound === null ? null : lastInbound + HUMAN_AGENT_WINDOW_MS;
  return {
    id: c.id,
    channelId: c.channelId,
    igsid: c.igsid,
    contact: {
      id: c.contactId,
      username: contact?.username ?? null,
      name: contact?.name ?? null,
      profilePic: contact?.profilePic ?? null,
    },
    status: c.status,
    threadOwner: c.threadOwner,
    intent: c.intent,
    tags: JSON.parse(c.tags) as string[],
    lastInboundAt: iso(lastInbound),
    lastMessageAt: iso(c.lastMessageAt),
    windowClosesAt: iso(closes),
    windowOpen: closes !== null && closes > now,
    /** Until when a human agent may still answer (with HUMAN_AGENT). */
    humanWindowClosesAt: iso(humanCloses),
    createdAt: iso(c.createdAt),
    updatedAt: iso(c.updatedAt),
  };
}

export function messageView(m: Selectable<MessageTable>) {
  return {
    id: m.id,
    mid: m.mid,
    conversationId: m.conversationId,
    channelId: m.channelId,
    direction: m.direction,
    type: m.type,
    text: m.text,
    attachments: JSON.parse(m.attachments) as unknown[],
    replyTo: m.replyTo === null ? null : (JSON.parse(m.replyTo) as unknown),
    payload: m.payload,
    referral: m.referral === null ? null : (JSON.parse(m.referral) as unknown),
    reactions: (
      JSON.parse(m.reactions) as { by: string; reaction: string; emoji: string | null; at: number }[]
    ).map((r) => ({ ...r, at: iso(r.at) })),
    status: m.status,
    error: m.error === null ? null : (JSON.parse(m.error) as unknown),
    isEcho: m.isEcho === 1,
    /** Sent again though Meta could not say whether an earlier try had gone: it may show twice. */
    possibleDuplicate: m.possibleDuplicate === 1,
    /** customer, bot, human (an agent, or someone in the Instagram app) or api. */
    author: m.author ?? (m.direction === 'inbound' ? 'customer' : null),
    editedAt: iso(m.editedAt),
    deletedAt: iso(m.deletedAt),
    seenAt: iso(m.seenAt),
    createdAt: iso(m.createdAt),
  };
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

    let query = db
      .selectFrom('conversations as c')
      .leftJoin('contacts as ct', 'ct.id', 'c.contactId')
      .selectAll('c')
      .select(['ct.username', 'ct.name', 'ct.profilePic'])
      .orderBy('c.lastMessageAt', 'desc')
      .orderBy('c.id', 'desc')
      .limit(q.data.limit + 1);
    if (q.data.status) query = query.where('c.status', '=', q.data.status);
    if (q.data.channelId) query = query.where('c.channelId', '=', q.data.channelId);
    if (after) {
      const [at, id] = after;
      query = query.where((eb) =>
        eb.or([
          eb('c.lastMessageAt', '<', at),
          eb.and([eb('c.lastMessageAt', '=', at), eb('c.id', '<', id)]),
        ]),
      );
    }
    const rows = await query.execute();
    const page = rows.slice(0, q.data.limit);
    const last = page.at(-1);
    return {
      data: page.map((r) => conversationView(r, r, now())),
      nextCursor:
        rows.length > q.data.limit && last ? encodeCursor([Number(last.lastMessageAt ?? 0), last.id]) : null,
    };
  });

  const findView = (id: string) =>
    db
      .selectFrom('conversations as c')
      .leftJoin('contacts as ct', 'ct.id', 'c.contactId')
      .selectAll('c')
      .select(['ct.username', 'ct.name', 'ct.profilePic'])
      .where('c.id', '=', id)
      .executeTakeFirst();

  // Who answers: the bot (automation) or a human (the inbox, or the Instagram app).
  const Handover = z.strictObject({ to: z.enum(['human', 'bot']) });
  app.post<{ Params: { id: string } }>('/v1/conversations/:id/handover', async (req) => {
    const body = Handover.safeParse(req.body);
    if (!body.success) throw errors.invalidRequest(z.prettifyError(body.error));
    if (!(await findView(req.params.id))) throw errors.conversationNotFound(req.params.id);
    const moved = await handover(req.params.id, body.data.to);
    const row = (await findView(req.params.id))!;
    return {
      ...conversationView(row, row, now()),
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
    const { status, tags } = body.data;
    const done = await db
      .updateTable('conversations')
      .set({
        updatedAt: now(),
        ...(status && { status }),
        ...(tags && { tags: JSON.stringify([...new Set(tags)]) }),
      })
      .where('id', '=', req.params.id)
      .executeTakeFirst();
    if (Number(done.numUpdatedRows) === 0) {
      throw errors.conversationNotFound(req.params.id);
    }
    const row = (await findView(req.params.id))!;
    return conversationView(row, row, now());
  });

  app.get<{ Params: { id: string } }>('/v1/conversations/:id', async (req) => {
    const row = await findView(req.params.id);
    if (!row) throw errors.conversationNotFound(req.params.id);
    return conversationView(row, row, now());
  });

  const MessagesQuery = Page.extend({ order: z.enum(['asc', 'desc']).default('desc') });

  app.get<{ Params: { id: string } }>('/v1/conversations/:id/messages', async (req) => {
    const q = MessagesQuery.safeParse(req.query);
    if (!q.success) throw errors.invalidQuery(z.prettifyError(q.error));
    const after = q.data.cursor === undefined ? undefined : decodeCursor(q.data.cursor);
    if (after === null) throw errors.invalidCursor();
    const conversation = await db
      .selectFrom('conversations')
      .select('id')
      .where('id', '=', req.params.id)
      .executeTakeFirst();
    if (!conversation) throw errors.conversationNotFound(req.params.id);

    const { order } = q.data;
    const cmp = order === 'desc' ? '<' : '>';
    let query = db
      .selectFrom('messages')
      .selectAll()
      .where('conversationId', '=', req.params.id)
      .orderBy('createdAt', order)
      .orderBy('id', order)
      .limit(q.data.limit + 1);
    if (after) {
      const [at, id] = after;
      query = query.where((eb) =>
        eb.or([eb('createdAt', cmp, at), eb.and([eb('createdAt', '=', at), eb('id', cmp, id)])]),
      );
    }
    const rows = await query.execute();
    const page = rows.slice(0, q.data.limit);
    const last = page.at(-1);
    return {
      data: page.map(messageView),
      nextCursor: rows.length > q.data.limit && last ? encodeCursor([Number(last.createdAt), last.id]) : null,
    };
  });
}
