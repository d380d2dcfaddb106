import type { ContactWithConversations, Conversation, Igdm, Note } from '@igdm/sdk';
import { useEffect, useState } from 'react';
import { refusalText } from '../lib/refusals.ts';
import { fullTime, shortTime } from '../lib/time.ts';
import { Avatar, displayName } from './Avatar.tsx';

// Beside the thread: the customer's profile and intent, the conversation's tags and assignee, the
// team's internal notes (never sent to the customer), and the customer's other conversations.

export interface ContactPanelProps {
  client: Igdm;
  conversation: Conversation;
  me: string | null;
  onChanged: (c: Conversation) => void;
  onOpen: (id: string) => void;
  onClose: () => void;
}

export function ContactPanel({ client, conversation: c, me, onChanged, onOpen, onClose }: ContactPanelProps) {
  const [contact, setContact] = useState<ContactWithConversations | null>(null);
  const [notes, setNotes] = useState<Note[]>([]);
  const [note, setNote] = useState('');
  const [tag, setTag] = useState('');
  const [assignee, setAssignee] = useState(c.assignee ?? '');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    setContact(null);
    client.contacts.get(c.contact.id).then(
      (x) => live && setContact(x),
      () => undefined,
    );
    client.conversations.notes(c.id).then(
      (x) => live && setNotes(x),
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [client, c.id, c.contact.id]);
  useEffect(() => setAssignee(c.assignee ?? ''), [c.assignee]);

  const change = async (action: () => Promise<Conversation>) => {
    setError(null);
    try {
      onChanged(await action());
    } catch (err) {
      setError(refusalText(err));
    }
  };
  const setTags = (tags: string[]) => change(() => client.conversations.update(c.id, { tags }));
  const assign = (name: string | null) => change(() => client.conversations.update(c.id, { assignee: name }));
  const addNote = async () => {
    if (!note.trim()) return;
    setError(null);
    try {
      const n = await client.conversations.addNote(c.id, note.trim());
      setNotes([...notes, n]);
      setNote('');
    } catch (err) {
      setError(refusalText(err));
    }
  };
  const others = (contact?.conversations ?? []).filter((x) => x.id !== c.id);

  return (
    <aside className="contact" aria-label="Contact">
      <div className="contact-head">
        <Avatar contact={c.contact} size={56} />
        <div>
          <div className="name">{displayName(c)}</div>
          {c.contact.username && (
            <a href={`https://instagram.com/${c.contact.username}`} target="_blank" rel="noopener noreferrer">
              @{c.contact.username}
            </a>
          )}
        </div>
        <button type="button" className="icon close" aria-label="Close contact details" onClick={onClose}>
          ×
        </button>
      </div>
      {error && (
        <div className="refusal" role="alert">
          {error}
        </div>
      )}
      <dl className="facts">
        <dt>Intent</dt>
        <dd>{c.intent ?? '—'}</dd>
        <dt>Channel</dt>
        <dd>{c.channelId}</dd>
        <dt>IGSID</dt>
        <dd className="mono">{c.igsid}</dd>
        <dt>First seen</dt>
        <dd>{fullTime(contact?.createdAt ?? c.createdAt)}</dd>
        <dt>Last wrote</dt>
        <dd>{fullTime(c.lastInboundAt) || '—'}</dd>
      </dl>

      <h3>Assignee</h3>
      <div className="inline-form">
        <input
          value={assignee}
          placeholder="Nobody"
          aria-label="Assignee"
          onChange={(e) => setAssignee(e.target.value)}
        />
        <button type="button" onClick={() => assign(assignee.trim() || null)}>
          Assign
        </button>
        {me && me !== c.assignee && (
          <button type="button" onClick={() => assign(me)}>
            Me
          </button>
        )}
      </div>

      <h3>Tags</h3>
      <div className="tag-list">
        {c.tags.map((t) => (
          <span className="chip removable" key={t}>
            #{t}
            <button
              type="button"
              aria-label={`Remove tag ${t}`}
              onClick={() => setTags(c.tags.filter((x) => x !== t))}
            >
              ×
            </button>
          </span>
        ))}
        <input
          value={tag}
          placeholder="Add a tag"
          aria-label="Add a tag"
          onChange={(e) => setTag(e.target.value)}
          onKeyDown={(e) => {
            const t = tag.trim().replace(/^#/, '');
            if (e.key === 'Enter' && t && !c.tags.includes(t)) {
              void setTags([...c.tags, t]);
              setTag('');
            }
          }}
        />
      </div>

      <h3>Internal notes</h3>
      <ul className="notes">
        {notes.map((n) => (
          <li key={n.id}>
            <div>{n.text}</div>
            <div className="muted">
              {n.author ?? 'Team'} · {shortTime(n.createdAt)}
            </div>
          </li>
        ))}
      </ul>
      <div className="inline-form">
        <textarea
          value={note}
          rows={2}
          placeholder="A note for the team (never sent)"
          aria-label="Internal note"
          onChange={(e) => setNote(e.target.value)}
        />
        <button type="button" onClick={addNote} disabled={!note.trim()}>
          Add note
        </button>
      </div>

      {others.length > 0 && (
        <>
          <h3>Other conversations</h3>
          <ul className="others">
            {others.map((o) => (
              <li key={o.id}>
                <button type="button" className="link" onClick={() => onOpen(o.id)}>
                  {o.channelId} · {o.status} · {shortTime(o.lastMessageAt)}
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
    </aside>
  );
}
