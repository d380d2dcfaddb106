import type { QuickReply, SavedReply } from '@igdm/sdk';
import { useState } from 'react';

// The composer's trays: quick replies to offer, a media link to send, a text to save as a reply, and
// the saved replies a `#` brings up.

export function QuickReplyTray({
  replies,
  onChange,
}: {
  replies: QuickReply[];
  onChange: (r: QuickReply[]) => void;
}) {
  const [title, setTitle] = useState('');
  const add = () => {
    const t = title.trim().slice(0, 20);
    if (!t || replies.length >= 13) return;
    onChange([...replies, { title: t, payload: t.toUpperCase().replace(/\W+/g, '_') }]);
    setTitle('');
  };
  return (
    <div className="tray">
      {replies.map((r, i) => (
        <span className="chip removable" key={r.payload + String(i)}>
          {r.title}
          <button
            type="button"
            aria-label={`Remove ${r.title}`}
            onClick={() => onChange(replies.filter((_, j) => j !== i))}
          >
            ×
          </button>
        </span>
      ))}
      <input
        value={title}
        maxLength={20}
        placeholder="Quick reply (≤ 20 characters)"
        aria-label="Quick reply title"
        onChange={(e) => setTitle(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            add();
          }
        }}
      />
      <button type="button" onClick={add} disabled={!title.trim() || replies.length >= 13}>
        Add
      </button>
    </div>
  );
}

export type MediaKind = 'image' | 'video' | 'audio' | 'file';

export function MediaTray({
  sending,
  onSend,
}: {
  sending: boolean;
  onSend: (kind: MediaKind, url: string) => Promise<boolean>;
}) {
  const [kind, setKind] = useState<MediaKind>('image');
  const [url, setUrl] = useState('');
  const send = async () => {
    if (url.trim() && (await onSend(kind, url.trim()))) setUrl('');
  };
  return (
    <div className="tray">
      <select aria-label="Media kind" value={kind} onChange={(e) => setKind(e.target.value as MediaKind)}>
        <option value="image">Image</option>
        <option value="video">Video</option>
        <option value="audio">Audio</option>
        <option value="file">File</option>
      </select>
      <input
        type="url"
        value={url}
        placeholder="https://…"
        aria-label="Media URL"
        onChange={(e) => setUrl(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            void send();
          }
        }}
      />
      <button type="button" onClick={send} disabled={sending || !url.trim()}>
        Send {kind}
      </button>
    </div>
  );
}

export function SaveReplyTray({ onSave }: { onSave: (shortcut: string) => Promise<boolean> }) {
  const [shortcut, setShortcut] = useState('');
  const save = async () => {
    if (shortcut.trim() && (await onSave(shortcut.trim().toLowerCase()))) setShortcut('');
  };
  return (
    <div className="tray">
      <span className="muted">Save this text as</span>
      <input
        value={shortcut}
        maxLength={32}
        placeholder="#shortcut"
        aria-label="Shortcut"
        onChange={(e) => setShortcut(e.target.value.replace(/^#/, ''))}
        onKeyDown={(e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            void save();
          }
        }}
      />
      <button type="button" onClick={save} disabled={!/^[a-z0-9_-]{1,32}$/i.test(shortcut.trim())}>
        Save reply
      </button>
    </div>
  );
}

export function SavedReplyPicker({
  replies,
  active,
  onPick,
}: {
  replies: SavedReply[];
  active: number;
  onPick: (r: SavedReply) => void;
}) {
  if (replies.length === 0)
    return <div className="picker empty-picker">No saved reply starts so. Save one with "Save reply".</div>;
  return (
    <div className="picker" role="listbox" aria-label="Saved replies">
      {replies.slice(0, 8).map((r, i) => (
        <div
          key={r.id}
          role="option"
          tabIndex={-1}
          aria-selected={i === active}
          className={i === active ? 'on' : ''}
          onMouseDown={(e) => {
            e.preventDefault(); // keep the text box's focus
            onPick(r);
          }}
        >
          <strong>#{r.shortcut}</strong> <span className="muted">{r.text}</span>
        </div>
      ))}
    </div>
  );
}
