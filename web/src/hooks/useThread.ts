import type { Igdm, Message, Page } from '@igdm/sdk';
import { useCallback, useEffect, useRef, useState } from 'react';
import { takeAnswered, takeEarly } from '../lib/early.ts';

// One conversation's messages, oldest first: the newest page at first, older pages as the agent
// scrolls up, and the newest page again whenever the event stream says something changed (a new
// message, a status, a reaction, an edit), merged by id.

const PAGE = 50;

const order = (a: Message, b: Message) =>
  (a.createdAt ?? '').localeCompare(b.createdAt ?? '') || a.id.localeCompare(b.id);

export function merged(list: Message[], incoming: Message[]): Message[] {
  const byId = new Map(list.map((m) => [m.id, m]));
  for (const m of incoming) byId.set(m.id, m);
  return [...byId.values()].sort(order);
}

/** The rule that sent each of the bot's messages, from the engine's jobs (an admin key's; else none). */
async function rulesOf(client: Igdm, conversationId: string): Promise<Map<string, string>> {
  const rules = new Map<string, string>();
  try {
    const page = await client.jobs.list({ conversationId, queue: 'engine', limit: 200 });
    for (const job of page.data) {
      const results = Array.isArray(job.result) ? job.result : [];
      for (const r of results as { rule?: string; queued?: string[] }[])
        if (r.rule) for (const id of r.queued ?? []) rules.set(id, r.rule);
    }
  } catch {
    // Not an admin key: bot messages show as the bot's, without their rule.
  }
  return rules;
}

export function useThread(client: Igdm, conversationId: string | null) {
  // The newest page of the conversation the address names, when igdm answered it before React
  // started: shown by the first render.
  const [answered] = useState(() =>
    conversationId ? takeAnswered<Page<Message>>(`messages ${conversationId}`) : undefined,
  );
  const [messages, setMessages] = useState<Message[]>(() => (answered ? [...answered.data].reverse() : []));
  const [older, setOlder] = useState<string | null>(answered?.nextCursor ?? null);
  const [loading, setLoading] = useState(false);
  const loaded = useRef(answered !== undefined);
  const [error, setError] = useState<unknown>(null);
  const [rules, setRules] = useState<Map<string, string>>(new Map());
  const current = useRef(conversationId);
  current.current = conversationId;

  useEffect(() => {
    let live = true;
    if (loaded.current) {
      loaded.current = false;
      if (conversationId) void rulesOf(client, conversationId).then((r) => live && setRules(r));
      return () => {
        live = false;
      };
    }
    setMessages([]);
    setOlder(null);
    setError(null);
    setRules(new Map());
    if (!conversationId) return;
    setLoading(true);
    (
      takeEarly<Page<Message>>(`messages ${conversationId}`) ??
      client.conversations.messages(conversationId, { limit: PAGE })
    )
      .then((page) => {
        if (!live) return;
        setMessages([...page.data].reverse());
        setOlder(page.nextCursor);
      })
      .catch((err) => live && setError(err))
      .finally(() => live && setLoading(false));
    void rulesOf(client, conversationId).then((r) => live && setRules(r));
    return () => {
      live = false;
    };
  }, [client, conversationId]);

  const loadOlder = useCallback(async () => {
    if (!conversationId || !older || loading) return false;
    setLoading(true);
    try {
      const page = await client.conversations.messages(conversationId, { limit: PAGE, cursor: older });
      if (current.current !== conversationId) return false;
      setMessages((list) => merged(list, page.data));
      setOlder(page.nextCursor);
      return true;
    } catch (err) {
      setError(err);
      return false;
    } finally {
      setLoading(false);
    }
  }, [client, conversationId, older, loading]);

  /** Fetches the newest page again (after an event about this conversation). */
  const refresh = useCallback(async () => {
    if (!conversationId) return;
    const page = await client.conversations.messages(conversationId, { limit: PAGE });
    if (current.current !== conversationId) return;
    setMessages((list) => merged(list, page.data));
    if (page.data.some((m) => m.author === 'bot')) void rulesOf(client, conversationId).then(setRules);
  }, [client, conversationId]);

  /** A message as a send or a retry answered it. */
  const put = useCallback((m: Message) => {
    if (m.conversationId === current.current) setMessages((list) => merged(list, [m]));
  }, []);

  return { messages, hasOlder: older !== null, loading, error, loadOlder, refresh, put, rules };
}
