import type { Conversation, Igdm, Page } from '@igdm/sdk';
import { useCallback, useEffect, useRef, useState } from 'react';
import { listRequest, takeAnswered, takeEarly } from '../lib/early.ts';
import { type Filters, firstPage } from '../lib/filters.ts';

export { type Filters, NO_FILTERS } from '../lib/filters.ts';

// The conversation list: a page of GET /v1/conversations with the filters, more pages on scroll,
// and each conversation the event stream says changed put in place (or out, when it no longer
// matches) without a reload.

/** Whether a conversation belongs in the list (the search words aside: igdm alone knows). */
export function matches(c: Conversation, f: Filters): boolean {
  if (f.status && c.status !== f.status) return false;
  if (f.threadOwner && c.threadOwner !== f.threadOwner) return false;
  if (f.assignee !== null && (c.assignee ?? '') !== f.assignee) return false;
  if (f.channelId && c.channelId !== f.channelId) return false;
  if (f.unreadOnly && c.unread === 0) return false;
  return true;
}

const activity = (c: Conversation) => Date.parse(c.lastMessageAt ?? c.updatedAt ?? c.createdAt ?? '') || 0;

/** Newest activity first, as igdm orders them. */
export function placed(list: Conversation[], c: Conversation, f: Filters): Conversation[] {
  const rest = list.filter((x) => x.id !== c.id);
  if (!matches(c, f)) return rest;
  const at = rest.findIndex((x) => activity(x) < activity(c));
  return at < 0 ? [...rest, c] : [...rest.slice(0, at), c, ...rest.slice(at)];
}

export function useConversations(client: Igdm, filters: Filters) {
  // The first page, when igdm answered it before React started: shown by the first render.
  const [answered] = useState(() => takeAnswered<Page<Conversation>>(listRequest(firstPage(filters))));
  const [items, setItems] = useState<Conversation[]>(answered?.data ?? []);
  const [cursor, setCursor] = useState<string | null>(answered?.nextCursor ?? null);
  const [loading, setLoading] = useState(answered === undefined);
  const loaded = useRef(answered !== undefined);
  const [error, setError] = useState<unknown>(null);
  const generation = useRef(0);
  const filtersRef = useRef(filters);
  filtersRef.current = filters;

  const reload = useCallback(async () => {
    const mine = ++generation.current;
    setLoading(true);
    try {
      const query = firstPage(filtersRef.current);
      const page = await (takeEarly<Page<Conversation>>(listRequest(query)) ??
        client.conversations.list(query));
      if (mine !== generation.current) return;
      setItems(page.data);
      setCursor(page.nextCursor);
      setError(null);
    } catch (err) {
      if (mine === generation.current) setError(err);
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, [client]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: a change of filters reloads the list
  useEffect(() => {
    if (loaded.current) loaded.current = false;
    else void reload();
  }, [reload, JSON.stringify(filters)]);

  const loadMore = useCallback(async () => {
    if (!cursor || loading) return;
    const mine = generation.current;
    setLoading(true);
    try {
      const page = await client.conversations.list({ ...firstPage(filtersRef.current), cursor });
      if (mine !== generation.current) return;
      setItems((list) => [...list, ...page.data.filter((c) => !list.some((x) => x.id === c.id))]);
      setCursor(page.nextCursor);
    } catch (err) {
      setError(err);
    } finally {
      if (mine === generation.current) setLoading(false);
    }
  }, [client, cursor, loading]);

  /** A conversation as igdm has it now. */
  const put = useCallback((c: Conversation) => setItems((list) => placed(list, c, filtersRef.current)), []);

  return { items, loading, error, hasMore: cursor !== null, loadMore, reload, put };
}
