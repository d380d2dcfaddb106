import type { Approval, Igdm } from '@igdm/sdk';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';

// The approvals the inbox knows: the pending ones (read once the first screen is up, then kept by
// the event stream's approval.created and approval.decided), and those of the threads opened, for
// their cards.

/** An approval only leaves `pending`: an older answer read late never takes it back. */
export function newer(known: Approval | undefined, incoming: Approval): boolean {
  return !(known && known.status !== 'pending' && incoming.status === 'pending');
}

export function useApprovals(client: Igdm) {
  const [byId, setById] = useState<ReadonlyMap<string, Approval>>(new Map());
  /** Conversations whose approvals were asked for (once each: a refusal is not asked again). */
  const asked = useRef(new Set<string>());

  const put = useCallback((list: Approval[]) => {
    setById((known) => {
      const next = new Map(known);
      for (const a of list) if (newer(next.get(a.id), a)) next.set(a.id, a);
      return next;
    });
  }, []);

  useEffect(() => {
    // After the first screen: the count in the header is not what the agent came for.
    const timer = setTimeout(() => {
      client.approvals.list({ status: 'pending', limit: 200 }).then(
        (page) => put(page.data),
        () => undefined, // a key without access: no approvals shown
      );
    }, 0);
    return () => clearTimeout(timer);
  }, [client, put]);

  /** The approvals of a conversation (its thread shows one of their DMs). */
  const loadConversation = useCallback(
    (conversationId: string) => {
      if (asked.current.has(conversationId)) return;
      asked.current.add(conversationId);
      client.approvals.list({ conversationId, limit: 200 }).then(
        (page) => put(page.data),
        () => asked.current.delete(conversationId),
      );
    },
    [client, put],
  );

  const pending = useMemo(
    () =>
      [...byId.values()]
        .filter((a) => a.status === 'pending')
        .sort((a, b) => b.createdAt.localeCompare(a.createdAt)),
    [byId],
  );

  return { byId, pending, put, loadConversation };
}
