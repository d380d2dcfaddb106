import type { Kysely, Selectable } from 'kysely';
import { commentIdOf } from './ids.ts';
import { after, type Page, type PageKey, pageOf } from './pages.ts';
import type { CommentTable, Database } from './schema.ts';

// Comments on the account's media as igdm keeps them (the projection adds them, projection/kinds.ts):
// listed newest first, found by igdm's id or Meta's, and marked as igdm hides, deletes or answers them.

export type Comment = Selectable<CommentTable>;

export interface CommentFilter {
  channelIds?: readonly string[];
  channelId?: string;
  mediaId?: string;
  /** The author's id (the IGSID Meta gives as `from.id`). */
  authorId?: string;
  limit: number;
  after?: PageKey;
}

export async function listComments(db: Kysely<Database>, f: CommentFilter): Promise<Page<Comment>> {
  let query = db.selectFrom('comments').selectAll();
  if (f.channelIds) query = query.where('channelId', 'in', f.channelIds.length ? f.channelIds : ['']);
  if (f.channelId !== undefined) query = query.where('channelId', '=', f.channelId);
  if (f.mediaId !== undefined) query = query.where('mediaId', '=', f.mediaId);
  if (f.authorId !== undefined) query = query.where('igsid', '=', f.authorId);
  if (f.after) {
    const key = f.after;
    query = query.where((eb) => after(eb, key, '<', 'createdAt', 'id'));
  }
  const rows = await query
    .orderBy('createdAt', 'desc')
    .orderBy('id', 'desc')
    .limit(f.limit + 1)
    .execute();
  return pageOf(rows, f.limit);
}

/** A comment by igdm's id (cmt_…) or Meta's comment id (in any of `channelIds`, when given). */
export async function findComment(
  db: Kysely<Database>,
  id: string,
  channelIds: readonly string[] | null,
): Promise<Comment | undefined> {
  let query = db
    .selectFrom('comments')
    .selectAll()
    .where((eb) => eb.or([eb('id', '=', id), eb('commentId', '=', id)]));
  if (channelIds) query = query.where('channelId', 'in', channelIds.length ? channelIds : ['']);
  return query.orderBy('createdAt').executeTakeFirst();
}

export async function setCommentHidden(db: Kysely<Database>, id: string, hidden: boolean): Promise<void> {
  await db
    .updateTable('comments')
    .set({ hidden: hidden ? 1 : 0 })
    .where('id', '=', id)
    .execute();
}

export async function markCommentDeleted(db: Kysely<Database>, id: string, at: number): Promise<void> {
  await db
    .updateTable('comments')
    .set({ deletedAt: at })
    .where('id', '=', id)
    .where('deletedAt', 'is', null)
    .execute();
}

/** igdm's own public reply under a comment, kept like the comments Meta delivers (source `reply`). */
export async function insertReply(
  db: Kysely<Database>,
  parent: Comment,
  reply: { commentId: string; accountId: string | null; text: string; at: number },
): Promise<Comment> {
  const id = commentIdOf(parent.channelId, reply.commentId);
  await db
    .insertInto('comments')
    .values({
      id,
      channelId: parent.channelId,
      commentId: reply.commentId,
      igsid: reply.accountId,
      username: null,
      text: reply.text,
      mediaId: parent.mediaId,
      parentId: parent.commentId,
      source: 'reply',
      mediaProductType: parent.mediaProductType,
      createdAt: reply.at,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  return db.selectFrom('comments').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/**
 * The automation's public reply to a comment is claimed once, before Meta is asked: a job run
 * again (a crash, a redelivery) finds it claimed and does not post a second reply.
 */
export async function claimPublicReply(db: Kysely<Database>, id: string, cause: string): Promise<boolean> {
  const r = await db
    .updateTable('comments')
    .set({ publicReplyCause: cause })
    .where('id', '=', id)
    .where('publicReplyCause', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
