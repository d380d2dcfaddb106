import type { Channel, Conversation } from '@igdm/sdk';
import { memo, type ReactNode, type RefObject, useEffect, useRef, useState } from 'react';
import type { Filters } from '../hooks/useConversations.ts';
import { previewText } from '../lib/preview.ts';
import { ago } from '../lib/time.ts';
import { windowBadge, windowOf } from '../lib/window.ts';
import { Avatar, displayName } from './Avatar.tsx';

// The conversation list: search, filters, and one row per conversation with what an agent scans
// for: who, the last message, when, unread, channel, bot or human, assignee, the window and tags.

export interface ListProps {
  items: Conversation[];
  selected: string | null;
  loading: boolean;
  hasMore: boolean;
  filters: Filters;
  channels: Channel[];
  me: string | null;
  now: number;
  searchRef: RefObject<HTMLInputElement | null>;
  onFilters: (f: Filters) => void;
  onSelect: (id: string) => void;
  onMore: () => void;
  /** Under the rows: the sandbox's panel. */
  footer?: ReactNode;
}

const Row = memo(function Row({
  c,
  active,
  now,
  onSelect,
}: {
  c: Conversation;
  active: boolean;
  now: number;
  onSelect: (id: string) => void;
}) {
  const ref = useRef<HTMLLIElement>(null);
  const w = windowOf(c, now);
  useEffect(() => {
    if (active) ref.current?.scrollIntoView({ block: 'nearest' });
  }, [active]);
  return (
    <li
      ref={ref}
      className={`row${active ? ' active' : ''}${c.unread ? ' unread' : ''}`}
      data-conversation-id={c.id}
    >
      <button type="button" onClick={() => onSelect(c.id)} aria-current={active ? 'true' : undefined}>
        <Avatar contact={c.contact} />
        <div className="row-main">
          <div className="row-top">
            <span className="name">{displayName(c)}</span>
            {c.contact.username && c.contact.name && <span className="username">@{c.contact.username}</span>}
            <time className="time" dateTime={c.lastMessageAt ?? undefined}>
              {ago(c.lastMessageAt, now)}
            </time>
          </div>
          <div className="row-mid">
            <span className="preview">{previewText(c.lastMessage)}</span>
            {c.unread > 0 && (
              <span className="unread-badge" title={`${c.unread} unread`}>
                {c.unread}
              </span>
            )}
          </div>
          <div className="row-tags">
            <span className={`window ${w.kind}`}>{windowBadge(w)}</span>
            <span className={`owner ${c.threadOwner}`}>{c.threadOwner === 'bot' ? 'Bot' : 'Human'}</span>
            {c.assignee && <span className="tag assignee">→ {c.assignee}</span>}
            <span className="tag channel">{c.channelId}</span>
            {c.status !== 'open' && <span className={`tag status ${c.status}`}>{c.status}</span>}
            {c.tags.map((t) => (
              <span className="tag" key={t}>
                #{t}
              </span>
            ))}
          </div>
        </div>
      </button>
    </li>
  );
});

/** Rows drawn in the first frame: a screen's worth; the rest come in the next. */
const FIRST_ROWS = 16;

export function ConversationList(p: ListProps) {
  const f = p.filters;
  const [all, setAll] = useState(false);
  const hasItems = p.items.length > 0;
  useEffect(() => {
    if (!hasItems || all) return;
    const timer = setTimeout(() => setAll(true), 0);
    return () => clearTimeout(timer);
  }, [hasItems, all]);
  const shown = all ? p.items : p.items.slice(0, FIRST_ROWS);
  const set = (change: Partial<Filters>) => p.onFilters({ ...f, ...change });
  // The agents to filter by: those the list shows, and the one filtered by.
  const agents = [...new Set([...p.items.map((c) => c.assignee), f.assignee])]
    .filter((a): a is string => Boolean(a) && a !== p.me)
    .sort();
  const assigneeValue =
    f.assignee === null ? '*' : f.assignee === '' ? '-' : f.assignee === p.me ? 'me' : `=${f.assignee}`;
  return (
    <aside className="list" aria-label="Conversations">
      <div className="search">
        <input
          ref={p.searchRef}
          type="search"
          placeholder="Search messages  ( / )"
          aria-label="Search"
          defaultValue={f.q}
          onKeyDown={(e) => {
            if (e.key === 'Enter') set({ q: e.currentTarget.value });
            if (e.key === 'Escape') e.currentTarget.blur();
          }}
          onChange={(e) => {
            if (e.currentTarget.value === '' && f.q) set({ q: '' });
          }}
        />
      </div>
      <div className="filters">
        <select
          aria-label="Status"
          value={f.status}
          onChange={(e) => set({ status: e.target.value as Filters['status'] })}
        >
          <option value="open">Open</option>
          <option value="pending">Pending</option>
          <option value="resolved">Resolved</option>
          <option value="">All</option>
        </select>
        <select
          aria-label="Owner"
          value={f.threadOwner}
          onChange={(e) => set({ threadOwner: e.target.value as Filters['threadOwner'] })}
        >
          <option value="">Bot & human</option>
          <option value="bot">Bot</option>
          <option value="human">Human</option>
        </select>
        <select
          aria-label="Assignee"
          value={assigneeValue}
          onChange={(e) => {
            const v = e.target.value;
            set({ assignee: v === '*' ? null : v === '-' ? '' : v === 'me' ? p.me : v.slice(1) });
          }}
        >
          <option value="*">Anyone</option>
          {p.me && <option value="me">Mine</option>}
          <option value="-">Unassigned</option>
          {agents.map((a) => (
            <option key={a} value={`=${a}`}>
              {a}
            </option>
          ))}
        </select>
        {p.channels.length > 1 && (
          <select
            aria-label="Channel"
            value={f.channelId}
            onChange={(e) => set({ channelId: e.target.value })}
          >
            <option value="">All channels</option>
            {p.channels.map((ch) => (
              <option key={ch.id} value={ch.id}>
                {ch.name ?? ch.id}
              </option>
            ))}
          </select>
        )}
        <label className="toggle">
          <input
            type="checkbox"
            checked={f.unreadOnly}
            onChange={(e) => set({ unreadOnly: e.target.checked })}
          />
          Unread
        </label>
      </div>
      <ul
        className="rows"
        onScroll={(e) => {
          const el = e.currentTarget;
          if (p.hasMore && el.scrollHeight - el.scrollTop - el.clientHeight < 200) p.onMore();
        }}
      >
        {shown.map((c) => (
          <Row key={c.id} c={c} active={c.id === p.selected} now={p.now} onSelect={p.onSelect} />
        ))}
        {!p.loading && p.items.length === 0 && (
          <li className="empty">{f.q ? 'No conversation says that.' : 'No conversations here yet.'}</li>
        )}
        {p.loading && <li className="empty">Loading…</li>}
      </ul>
      {p.footer}
    </aside>
  );
}
