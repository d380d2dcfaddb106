import type { Approval, Conversation, Igdm, Message } from '@igdm/sdk';
import { type RefObject, useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { useThread } from '../hooks/useThread.ts';
import { refusalText } from '../lib/refusals.ts';
import { dayLabel } from '../lib/time.ts';
import { composerMode, windowBadge, windowOf } from '../lib/window.ts';
import { Avatar, displayName } from './Avatar.tsx';
import { Composer } from './Composer.tsx';
import { MessageBubble } from './MessageBubble.tsx';

// The open conversation: who it is with and its window, the agent's actions (take over, give back,
// resolve, reopen), the messages (older ones load as the agent scrolls up), and the reply box.

export interface ThreadProps {
  client: Igdm;
  conversation: Conversation;
  thread: ReturnType<typeof useThread>;
  now: number;
  inputRef: RefObject<HTMLTextAreaElement | null>;
  onChanged: (c: Conversation) => void;
  onBack: () => void;
  onToggleContact: () => void;
  /** The approvals the inbox knows, by id: their DMs show as cards. */
  approvals: ReadonlyMap<string, Approval>;
  /** The thread shows the DM of an approval the inbox does not know yet. */
  onApprovalsNeeded: (conversationId: string) => void;
}

export function Thread({
  client,
  conversation: c,
  thread,
  now,
  inputRef,
  onChanged,
  onBack,
  onToggleContact,
  approvals,
  onApprovalsNeeded,
}: ThreadProps) {
  const scroller = useRef<HTMLDivElement>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const win = windowOf(c, now);
  const mode = composerMode(win);
  const { messages } = thread;

  // Stay at the bottom as messages come, unless the agent scrolled up to read; keep the place when
  // older messages are put above.
  const anchor = useRef<{ height: number; top: number } | null>(null);
  const atBottom = useRef(true);
  const lastId = messages.at(-1)?.id;
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the messages change
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    if (anchor.current) {
      el.scrollTop = el.scrollHeight - anchor.current.height + anchor.current.top;
      anchor.current = null;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [messages, lastId]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: a new conversation starts at its newest message
  useLayoutEffect(() => {
    atBottom.current = true;
  }, [c.id]);

  // A picture that loads grows the thread: still at the bottom if the agent was there.
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const loaded = () => {
      if (atBottom.current) el.scrollTop = el.scrollHeight;
    };
    el.addEventListener('load', loaded, true); // load does not bubble: caught on the way down
    return () => el.removeEventListener('load', loaded, true);
  }, []);

  const onScroll = useCallback(async () => {
    const el = scroller.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    if (el.scrollTop < 120 && thread.hasOlder && !thread.loading) {
      anchor.current = { height: el.scrollHeight, top: el.scrollTop };
      if (!(await thread.loadOlder())) anchor.current = null;
    }
  }, [thread]);

  const act = async (action: () => Promise<Conversation>) => {
    setBusy(true);
    setActionError(null);
    try {
      onChanged(await action());
    } catch (err) {
      setActionError(refusalText(err));
    } finally {
      setBusy(false);
    }
  };

  const needsApprovals = messages.some((m) => m.approvalId && !approvals.has(m.approvalId));
  useEffect(() => {
    if (needsApprovals) onApprovalsNeeded(c.id);
  }, [needsApprovals, c.id, onApprovalsNeeded]);
  /** The approval a message is the DM of (not its confirmation, which names it too). */
  const approvalOf = (m: Message) => {
    const a = m.approvalId ? approvals.get(m.approvalId) : undefined;
    return a && (a.messageId === null || a.messageId === m.id) ? a : undefined;
  };
  const nameOf = (igsid: string) => (igsid === c.igsid ? displayName(c) : igsid);

  const byMid = (mid: string) => messages.find((m) => m.mid === mid);
  const retry = async (m: Message) => {
    try {
      thread.put(await client.messages.retry(m.id));
    } catch (err) {
      setActionError(refusalText(err));
    }
  };

  let lastDay = '';
  return (
    <section className="thread" aria-label="Conversation">
      <header className="thread-head">
        <button type="button" className="back" aria-label="Back to the list" onClick={onBack}>
          ←
        </button>
        <Avatar contact={c.contact} />
        <div className="who">
          <div className="name">{displayName(c)}</div>
          <div className="sub">
            {c.contact.username ? `@${c.contact.username}` : c.igsid} · {c.channelId}
          </div>
        </div>
        <span className={`window ${win.kind}`} data-testid="window-badge">
          {windowBadge(win)}
        </span>
        <div className="actions">
          {c.threadOwner === 'bot' ? (
            <button
              type="button"
              disabled={busy}
              onClick={() => act(() => client.conversations.handover(c.id, 'human'))}
            >
              Take over
            </button>
          ) : (
            <button
              type="button"
              disabled={busy}
              onClick={() => act(() => client.conversations.handover(c.id, 'bot'))}
            >
              Give back to bot
            </button>
          )}
          {c.status === 'resolved' ? (
            <button
              type="button"
              disabled={busy}
              onClick={() => act(() => client.conversations.update(c.id, { status: 'open' }))}
            >
              Reopen
            </button>
          ) : (
            <button
              type="button"
              disabled={busy}
              title="Resolve (e)"
              onClick={() => act(() => client.conversations.update(c.id, { status: 'resolved' }))}
            >
              Resolve
            </button>
          )}
          <button type="button" aria-label="Contact details" onClick={onToggleContact}>
            Details
          </button>
        </div>
      </header>
      <div className={`owner-bar ${c.threadOwner}`} data-testid="owner">
        {c.threadOwner === 'bot'
          ? 'The bot answers this conversation.'
          : `A human has taken over: the bot stays silent${c.assignee ? ` · assigned to ${c.assignee}` : ''}.`}
      </div>
      {actionError && (
        <div className="refusal" role="alert">
          {actionError}
        </div>
      )}
      <div className="messages" ref={scroller} onScroll={onScroll} data-testid="messages">
        {thread.hasOlder && (
          <div className="older">
            {thread.loading ? 'Loading older messages…' : 'Scroll up for older messages'}
          </div>
        )}
        {!thread.loading && messages.length === 0 && <div className="empty">No messages yet.</div>}
        {messages.map((m) => {
          const day = dayLabel(m.createdAt);
          const separator = day !== lastDay ? <div className="day">{day}</div> : null;
          lastDay = day;
          return (
            <div key={m.id}>
              {separator}
              <MessageBubble
                m={m}
                rule={thread.rules.get(m.id)}
                find={byMid}
                onRetry={retry}
                approval={approvalOf(m)}
                nameOf={nameOf}
              />
            </div>
          );
        })}
      </div>
      <Composer client={client} conversation={c} mode={mode} onSent={thread.put} inputRef={inputRef} />
    </section>
  );
}
