import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { COMMENT_TEXT_MAX } from '../engine/automation/config.ts';
import { CommentActionError, deleteComment, hideComment, replyPublicly } from '../engine/comments.ts';
import type { Channel } from '../store/channels.ts';
import { type Comment, findComment, listComments } from '../store/comments.ts';
import type { Database } from '../store/schema.ts';
import { errors } from './errors.ts';
import { decodeCursor, encodeCursor, Page } from './pages.ts';
import { page } from './schemas.ts';

// Comments on the account's media (the comments, live_comments and mentions webhook fields), newest
// first; a public reply, hiding and deleting go to Meta's Graph API first, then igdm's record follows.
// A private reply is a message: POST /v1/messages with commentId.

const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());

export const CommentView = z
  .object({
    id: z.string().meta({ description: 'cmt_…' }),
    channelId: z.string(),
    commentId: z.string().meta({ description: "Meta's comment id (a private reply's commentId)." }),
    source: z
      .string()
      .meta({ description: 'comments, live_comments, mentions, or reply (a public reply igdm made).' }),
    mediaId: z.string().nullable(),
    mediaProductType: z.string().nullable().meta({ description: 'FEED, REELS, STORY, LIVE, … when given.' }),
    parentId: z.string().nullable().meta({ description: "The comment it replies to (Meta's id)." }),
    from: z
      .object({ id: z.string(), username: z.string().nullable() })
      .nullable()
      .meta({ description: 'The author (the IGSID Meta gives); null when Meta does not say (mentions).' }),
    text: z.string().nullable(),
    hidden: z.boolean(),
    deletedAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: 'Comment' });

export const commentView = (c: Comment): z.infer<typeof CommentView> => ({
  id: c.id,
  channelId: c.channelId,
  commentId: c.commentId,
  source: c.source,
  mediaId: c.mediaId,
  mediaProductType: c.mediaProductType,
  parentId: c.parentId,
  from: c.igsid === null ? null : { id: c.igsid, username: c.username },
  text: c.text,
  hidden: c.hidden === 1,
  deletedAt: iso(c.deletedAt),
  createdAt: iso(c.createdAt)!,
});

const ListQuery = Page.extend({
  channelId: z.string().optional(),
  mediaId: z.string().optional().meta({ description: 'Comments on this media.' }),
  authorId: z.string().optional().meta({ description: 'Comments by this author (from.id, an IGSID).' }),
  from: z.string().optional().meta({ description: 'The same as authorId.' }),
});
const Params = z.object({ id: z.string().meta({ description: "cmt_… or Meta's comment id" }) });
const ReplyBody = z.strictObject({
  text: z
    .string()
    .trim()
    .min(1)
    .refine((t) => [...t].length <= COMMENT_TEXT_MAX, `must be at most ${COMMENT_TEXT_MAX} characters`),
});
// No body hides it (as MarkRead in conversations.ts: an absent body is {})
const HideBody = z.preprocess((body) => body ?? {}, z.strictObject({ hidden: z.boolean().default(true) }));

export interface CommentRouteDeps {
  db: Kysely<Database>;
  channels: () => readonly Channel[];
  now: () => number;
}

export async function commentRoutes(scope: FastifyInstance, deps: CommentRouteDeps) {
  const { db } = deps;
  const app = scope.withTypeProvider<ZodTypeProvider>();

  /** The comment (hidden from a key that does not see its channel), with its channel. */
  async function find(req: FastifyRequest, id: string): Promise<{ comment: Comment; channel: Channel }> {
    const seen = req.principal.channels;
    const comment = await findComment(db, id, seen && [...seen]);
    const channel = comment && deps.channels().find((c) => c.id === comment.channelId);
    if (!comment || !channel) throw errors.commentNotFound(id);
    return { comment, channel };
  }
  const live = (comment: Comment) => {
    if (comment.deletedAt !== null) throw errors.commentDeleted(comment.commentId);
  };
  const refused = (err: unknown) =>
    err instanceof CommentActionError ? errors.commentActionRefused(err.reason, err.message) : err;

  app.get(
    '/v1/comments',
    { schema: { querystring: ListQuery, response: { 200: page(CommentView) } } },
    async (req) => {
      const { cursor, limit, channelId, mediaId } = req.query;
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      if (after === null) throw errors.invalidCursor();
      const authorId = req.query.authorId ?? req.query.from;
      const seen = req.principal.channels;
      const found = await listComments(db, {
        limit,
        ...(after && { after }),
        ...(channelId !== undefined && { channelId }),
        ...(mediaId !== undefined && { mediaId }),
        ...(authorId !== undefined && { authorId }),
        ...(seen && { channelIds: [...seen] }),
      });
      const last = found.rows.at(-1);
      return {
        data: found.rows.map(commentView),
        nextCursor: found.more && last ? encodeCursor([Number(last.createdAt), last.id]) : null,
      };
    },
  );

  app.get('/v1/comments/:id', { schema: { params: Params, response: { 200: CommentView } } }, async (req) =>
    commentView((await find(req, req.params.id)).comment),
  );

  app.post(
    '/v1/comments/:id/replies',
    { schema: { params: Params, body: ReplyBody, response: { 201: CommentView } } },
    async (req, reply) => {
      const { comment, channel } = await find(req, req.params.id);
      live(comment);
      try {
        const made = await replyPublicly(deps, channel, comment, req.body.text);
        return reply.code(201).send(commentView(made));
      } catch (err) {
        throw refused(err);
      }
    },
  );

  app.post(
    '/v1/comments/:id/hide',
    { schema: { params: Params, body: HideBody, response: { 200: CommentView } } },
    async (req) => {
      const { comment, channel } = await find(req, req.params.id);
      live(comment);
      try {
        await hideComment(deps, channel, comment, req.body.hidden);
      } catch (err) {
        throw refused(err);
      }
      return commentView((await findComment(db, comment.id, null))!);
    },
  );

  app.delete(
    '/v1/comments/:id',
    { schema: { params: Params, response: { 200: CommentView } } },
    async (req) => {
      const { comment, channel } = await find(req, req.params.id);
      // Deleted already: the record of it (a repeated request).
      if (comment.deletedAt === null) {
        try {
          await deleteComment(deps, channel, comment);
        } catch (err) {
          throw refused(err);
        }
      }
      return commentView((await findComment(db, comment.id, null))!);
    },
  );
}
