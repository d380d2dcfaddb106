import type { ConversationFilter, ConversationStatus, Owner } from '@igdm/sdk';

// The list's filters, and the GET /v1/conversations query they make.

export interface Filters {
  q: string;
  status: ConversationStatus | '';
  threadOwner: Owner | '';
  /** null: anyone's; '': nobody's; else an agent's name. */
  assignee: string | null;
  channelId: string;
  unreadOnly: boolean;
}

export const NO_FILTERS: Filters = {
  q: '',
  status: 'open',
  threadOwner: '',
  assignee: null,
  channelId: '',
  unreadOnly: false,
};

/** Conversations a page of the list holds. */
const PAGE = 50;

/** The request for the first page of the list with these filters. */
export const firstPage = (f: Filters): ConversationFilter => ({ ...apiFilter(f), limit: PAGE });

export function apiFilter(f: Filters): ConversationFilter {
  return {
    ...(f.q.trim() && { q: f.q.trim() }),
    ...(f.status && { status: f.status }),
    ...(f.threadOwner && { threadOwner: f.threadOwner }),
    ...(f.assignee !== null && { assignee: f.assignee }),
    ...(f.channelId && { channelId: f.channelId }),
    ...(f.unreadOnly && { unread: true }),
  };
}
