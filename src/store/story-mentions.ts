import type { Kysely } from 'kysely';
import type { Database, StoryMentionTable } from './schema.ts';

// Story mentions: who mentioned the account in which story, and when (engine/story-mentions.ts).

/**
 * Records a mention, once per id. Recorded again (a redelivery, a replay), it keeps what it knew
 * of the story and learns what it did not.
 */
export async function saveStoryMention(db: Kysely<Database>, mention: StoryMentionTable): Promise<void> {
  await db
    .insertInto('storyMentions')
    .values(mention)
    .onConflict((oc) =>
      oc.column('id').doUpdateSet((eb) => ({
        storyId: eb.fn.coalesce('storyMentions.storyId', eb.ref('excluded.storyId')),
        mediaUrl: eb.fn.coalesce('storyMentions.mediaUrl', eb.ref('excluded.mediaUrl')),
        updatedAt: mention.updatedAt,
      })),
    )
    .execute();
}
