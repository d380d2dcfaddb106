import type { GraphClient } from '../graph/client.ts';

// Reading Meta's Conversations API for a backfill: the account's conversations (newest first, page
// by page), the newest messages of one (Meta shows only the most recent: 20), and one message's
// details (one call per message). Every call goes through `paced` (2 calls/s per account).

type Paced = <T>(call: () => Promise<T>) => Promise<T>;

export interface ConversationRef {
  id: string;
  /** When its newest message was written (ms). */
  updatedAt: number;
}

/** A message's details, as GET /{message-id}?fields=... answers. */
export interface MessageDetails {
  id: string;
  created_time?: string;
  from?: { id?: string; username?: string };
  to?: { data?: { id?: string; username?: string }[] };
  message?: string;
  attachments?: { data?: Record<string, unknown>[] };
  /** A shared post or reel (the Conversations API's field for shares). */
  shares?: { data?: Record<string, unknown>[] };
  story?: { mention?: { link?: string; id?: string }; reply_to?: { link?: string; id?: string } };
  is_unsupported?: boolean;
}

export const MESSAGE_FIELDS = 'id,created_time,from,to,message,attachments';

/** How many pages of conversations a run reads at most (Meta pages hold 25 or so). */
const MAX_PAGES = 200;

/** The account's conversations active since `since` (ms), newest first. */
export async function conversationsSince(
  client: GraphClient,
  paced: Paced,
  since: number,
): Promise<ConversationRef[]> {
  const found: ConversationRef[] = [];
  let after: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const r = await paced(() =>
      client.call<{
        data?: { id?: string; updated_time?: string }[];
        paging?: { cursors?: { after?: string }; next?: string };
      }>('GET', `${client.sender}/conversations`, {
        operation: 'conversations',
        query: { platform: 'instagram', fields: 'id,updated_time', ...(after && { after }) },
      }),
    );
    const rows = r.data?.data ?? [];
    let older = false;
    for (const row of rows) {
      if (typeof row.id !== 'string') continue;
      const updatedAt = Date.parse(row.updated_time ?? '');
      // Newest first: the first one older than `since` ends the list (an unreadable time is kept).
      if (Number.isFinite(updatedAt) && updatedAt < since) {
        older = true;
        break;
      }
      found.push({ id: row.id, updatedAt: Number.isFinite(updatedAt) ? updatedAt : Number.NaN });
    }
    after = r.data?.paging?.next ? r.data.paging.cursors?.after : undefined;
    if (older || !after || rows.length === 0) break;
  }
  return found;
}

/** A conversation's newest messages (Meta gives at most 20), newest first: ids and times (ms). */
export async function newestMessages(
  client: GraphClient,
  paced: Paced,
  conversationId: string,
): Promise<{ id: string; createdAt: number }[]> {
  return (await paced(() => client.conversationMessages(conversationId))).map((m) => ({
    id: m.id,
    createdAt: m.createdTime,
  }));
}

/** One message's details. */
export async function messageDetails(
  client: GraphClient,
  paced: Paced,
  mid: string,
): Promise<MessageDetails> {
  return (
    await paced(() =>
      client.call<MessageDetails>('GET', encodeURIComponent(mid), {
        operation: 'conversations',
        query: { fields: MESSAGE_FIELDS },
      }),
    )
  ).data;
}
