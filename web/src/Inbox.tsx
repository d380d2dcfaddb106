import type { Approval, Channel, Conversation, Igdm, IgdmEvent } from '@igdm/sdk';
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApprovalsPanel } from './components/ApprovalsPanel.tsx';
import { ContactPanel } from './components/ContactPanel.tsx';
import { ConversationList } from './components/ConversationList.tsx';
import { SandboxPanel } from './components/SandboxPanel.tsx';
import { Thread } from './components/Thread.tsx';
import { useApprovals } from './hooks/useApprovals.ts';
import { type Filters, NO_FILTERS, useConversations } from './hooks/useConversations.ts';
import { useNow } from './hooks/useNow.ts';
import { useShortcuts } from './hooks/useShortcuts.ts';
import { useThread } from './hooks/useThread.ts';
import { peekAnswered, takeEarly } from './lib/early.ts';
import { pathId } from './lib/route.ts';
import type { Identity } from './lib/session.ts';

// The inbox once signed in: the list, the open conversation and its contact panel, kept live by
// igdm's event stream; the address names the open conversation (/conversations/cnv_…).

export interface InboxProps {
  client: Igdm;
  /** null until igdm has said who the stored key is. */
  identity: Identity | null;
  onSignOut: () => void;
}

export function Inbox({ client, identity, onSignOut }: InboxProps) {
  const sandbox = identity?.sandbox ?? false;
  const me = identity?.agent ?? null;
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [selectedId, setSelectedId] = useState<string | null>(pathId);
  const [selected, setSelected] = useState<Conversation | null>(() =>
    selectedId ? (peekAnswered<Conversation>(`conversation ${selectedId}`) ?? null) : null,
  );
  const [contactOpen, setContactOpen] = useState(false);
  const [approvalsOpen, setApprovalsOpen] = useState(false);
  const [sandboxOpen, setSandboxOpen] = useState(true);
  const [channels, setChannels] = useState<Channel[]>([]);
  const [notify, setNotify] = useState(
    () => typeof Notification !== 'undefined' && Notification.permission === 'granted',
  );
  const [live, setLive] = useState(true);
  const list = useConversations(client, filters);
  const thread = useThread(client, selectedId);
  const approvals = useApprovals(client);
  const now = useNow();
  const searchRef = useRef<HTMLInputElement>(null);
  const replyRef = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    client.channels.list().then(setChannels, () => undefined);
  }, [client]);

  const open = useCallback((id: string | null) => {
    setSelectedId(id);
    const path = id ? `/conversations/${encodeURIComponent(id)}` : '/';
    if (location.pathname !== path) history.pushState(null, '', path);
  }, []);
  useEffect(() => {
    const onPop = () => setSelectedId(pathId());
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);

  /** A conversation as igdm answered it: in the list, and in the thread's header. */
  const changed = useCallback(
    (c: Conversation) => {
      list.put(c);
      setSelected((s) => (s?.id === c.id ? c : s));
    },
    [list.put],
  );

  // The open conversation, read by the agent (unread goes to 0).
  const itemsRef = useRef(list.items);
  itemsRef.current = list.items;
  useEffect(() => {
    // The list's copy at once (no blank while igdm answers), igdm's own just after.
    setSelected(
      (s) => itemsRef.current.find((c) => c.id === selectedId) ?? (s?.id === selectedId ? s : null),
    );
    setContactOpen(false);
    if (!selectedId) return;
    let live = true;
    (takeEarly<Conversation>(`conversation ${selectedId}`) ?? client.conversations.get(selectedId))
      .then(async (c) => {
        if (!live) return;
        setSelected(c);
        if (c.unread > 0) changed(await client.conversations.read(c.id));
      })
      .catch(() => live && open(null));
    return () => {
      live = false;
    };
  }, [client, selectedId, changed, open]);

  // The event stream: whatever happens to a conversation shows at once, here and in the list.
  const filtersRef = useRef(filters);
  filtersRef.current = filters;
  const selectedRef = useRef(selectedId);
  selectedRef.current = selectedId;
  const handlers = useRef({ changed, thread, list, notify, approvals });
  handlers.current = { changed, thread, list, notify, approvals };
  useEffect(() => {
    const pending = new Map<string, ReturnType<typeof setTimeout>>();
    const fetchSoon = (id: string) => {
      clearTimeout(pending.get(id));
      pending.set(
        id,
        setTimeout(async () => {
          pending.delete(id);
          const h = handlers.current;
          if (selectedRef.current === id) void h.thread.refresh();
          try {
            let c = await client.conversations.get(id);
            if (selectedRef.current === id && c.unread > 0 && document.visibilityState === 'visible')
              c = await client.conversations.read(id);
            h.changed(c);
          } catch {
            // Gone meanwhile (erased): the next reload leaves it out.
          }
        }, 60),
      );
    };
    let searchTimer: ReturnType<typeof setTimeout> | undefined;
    let quiet: ReturnType<typeof setTimeout> | undefined;
    const sub = client.events.subscribe(
      {
        // The client reconnects every 3 s and reports each failure: quiet for 5 s, it is back.
        onError: () => {
          setLive(false);
          clearTimeout(quiet);
          quiet = setTimeout(() => setLive(true), 5000);
        },
      },
      (e: IgdmEvent) => {
        setLive(true);
        if (e.event === 'approval.created' || e.event === 'approval.decided')
          handlers.current.approvals.put([e.data['approval'] as Approval]);
        if (!e.conversationId) return;
        fetchSoon(e.conversationId);
        // A search's matches only igdm knows: ask again.
        if (handlers.current.list && filtersRef.current.q) {
          clearTimeout(searchTimer);
          searchTimer = setTimeout(() => void handlers.current.list.reload(), 300);
        }
        if (
          e.event === 'message.received' &&
          handlers.current.notify &&
          document.visibilityState === 'hidden'
        ) {
          const text = typeof e.data['text'] === 'string' ? e.data['text'] : 'A new message';
          const n = new Notification('New Instagram message', { body: text, tag: e.conversationId });
          const id = e.conversationId;
          n.onclick = () => {
            focus();
            open(id);
          };
        }
      },
    );
    return () => {
      sub.close();
      for (const t of pending.values()) clearTimeout(t);
      clearTimeout(searchTimer);
      clearTimeout(quiet);
    };
  }, [client, open]);

  const move = useCallback(
    (step: 1 | -1) => {
      const ids = list.items.map((c) => c.id);
      if (ids.length === 0) return;
      const at = selectedId ? ids.indexOf(selectedId) : -1;
      const next = at < 0 ? 0 : Math.min(ids.length - 1, Math.max(0, at + step));
      open(ids[next]!);
    },
    [list.items, selectedId, open],
  );
  useShortcuts({
    j: () => move(1),
    k: () => move(-1),
    r: () => replyRef.current?.focus(),
    '/': () => searchRef.current?.focus(),
    e: () => {
      if (selected && selected.status !== 'resolved')
        void client.conversations.update(selected.id, { status: 'resolved' }).then(changed, () => undefined);
    },
    esc: () => {
      if (contactOpen) setContactOpen(false);
      else if (approvalsOpen) setApprovalsOpen(false);
      else open(null);
    },
  });

  const askNotifications = async () => {
    if (typeof Notification === 'undefined') return;
    setNotify((await Notification.requestPermission()) === 'granted');
  };

  const lastOutbound = [...thread.messages].reverse().find((m) => m.direction === 'outbound' && m.mid);
  return (
    <div className="app" data-view={selectedId ? 'thread' : 'list'}>
      <header className="top">
        <span className="brand">
          <span className="logo" aria-hidden="true" />
          igdm
        </span>
        <span className={`live ${live ? 'on' : 'off'}`} title={live ? 'Live' : 'Reconnecting…'} />
        <span className="spacer" />
        {sandbox && (
          <button
            type="button"
            className={`tool ${sandboxOpen ? 'on' : ''}`}
            onClick={() => setSandboxOpen(!sandboxOpen)}
          >
            <span className="wide">Simulate a customer</span>
            <span className="narrow">Simulate</span>
          </button>
        )}
        <button
          type="button"
          className={`tool ${approvalsOpen ? 'on' : ''}`}
          title="Approvals waiting for an answer"
          onClick={() => {
            setApprovalsOpen(!approvalsOpen);
            setContactOpen(false);
          }}
        >
          Approvals
          {approvals.pending.length > 0 && (
            <span className="count" data-testid="pending-approvals">
              {approvals.pending.length}
            </span>
          )}
        </button>
        {typeof Notification !== 'undefined' && !notify && (
          <button
            type="button"
            className="tool wide"
            onClick={askNotifications}
            title="Desktop notifications for new messages while this tab is in the background"
          >
            Notify me
          </button>
        )}
        <span className="agent" data-testid="agent">
          {identity?.name}
        </span>
        <button type="button" className="tool" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <div className={`panes${contactOpen || approvalsOpen ? ' with-contact' : ''}`}>
        <ConversationList
          items={list.items}
          selected={selectedId}
          loading={list.loading}
          hasMore={list.hasMore}
          filters={filters}
          channels={channels}
          me={me}
          now={now}
          searchRef={searchRef}
          onFilters={setFilters}
          onSelect={open}
          onMore={list.loadMore}
          footer={
            sandbox &&
            sandboxOpen && (
              <SandboxPanel
                client={client}
                igsid={selected?.igsid ?? null}
                lastOutboundMid={lastOutbound?.mid ?? null}
                onClose={() => setSandboxOpen(false)}
              />
            )
          }
        />
        <main className="main">
          {selected ? (
            <Thread
              client={client}
              conversation={selected}
              thread={thread}
              now={now}
              inputRef={replyRef}
              onChanged={changed}
              onBack={() => open(null)}
              onToggleContact={() => {
                setContactOpen(!contactOpen);
                setApprovalsOpen(false);
              }}
              approvals={approvals.byId}
              onApprovalsNeeded={approvals.loadConversation}
            />
          ) : (
            <div className="placeholder">
              <h2>{list.items.length ? 'Pick a conversation' : 'No conversations yet'}</h2>
              <p className="muted">
                <kbd>j</kbd> <kbd>k</kbd> move · <kbd>r</kbd> reply · <kbd>e</kbd> resolve · <kbd>/</kbd>{' '}
                search
              </p>
              {sandbox && !list.items.length && <p>Simulate a customer to start a conversation.</p>}
            </div>
          )}
        </main>
        {contactOpen && selected && (
          <ContactPanel
            client={client}
            conversation={selected}
            me={me}
            onChanged={changed}
            onOpen={open}
            onClose={() => setContactOpen(false)}
          />
        )}
        {approvalsOpen && (
          <ApprovalsPanel
            pending={approvals.pending}
            conversations={list.items}
            now={now}
            onOpen={open}
            onClose={() => setApprovalsOpen(false)}
          />
        )}
      </div>
    </div>
  );
}
