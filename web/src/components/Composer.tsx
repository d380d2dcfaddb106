import type { Content, Conversation, Igdm, Message, QuickReply, SavedReply } from '@igdm/sdk';
import { type RefObject, useRef, useState } from 'react';
import { useSavedReplies } from '../hooks/useSavedReplies.ts';
import { TEXT_LIMIT_BYTES, utf8Bytes } from '../lib/bytes.ts';
import { refusalText } from '../lib/refusals.ts';
import { applyReply, type HashQuery, hashQuery, matching } from '../lib/saved-replies.ts';
import { attachmentTypeOf, rememberUpload } from '../lib/uploads.ts';
import type { ComposerMode } from '../lib/window.ts';
import {
  type MediaKind,
  MediaTray,
  QuickReplyTray,
  SavedReplyPicker,
  SaveReplyTray,
} from './ComposerTrays.tsx';

// The reply box: text (with its size in bytes against Meta's 1000), saved replies by `#`, quick
// replies, media by URL or uploaded from the computer, and the heart sticker. What the window allows
// decides how it sends (a human agent's reply from 24 hours on) or whether it can at all; a refusal
// shows igdm's reason in plain words.

export interface ComposerProps {
  client: Igdm;
  conversation: Conversation;
  mode: ComposerMode;
  onSent: (m: Message) => void;
  inputRef: RefObject<HTMLTextAreaElement | null>;
}

type Tray = 'replies' | 'media' | 'save' | null;

export function Composer({ client, conversation, mode, onSent, inputRef }: ComposerProps) {
  const [text, setText] = useState('');
  const [replies, setReplies] = useState<QuickReply[]>([]);
  const [tray, setTray] = useState<Tray>(null);
  const [sending, setSending] = useState(false);
  const [refusal, setRefusal] = useState<string | null>(null);
  const [hash, setHash] = useState<HashQuery | null>(null);
  const [active, setActive] = useState(0);
  const saved = useSavedReplies(client);
  const file = useRef<HTMLInputElement>(null);
  const bytes = utf8Bytes(text);
  const tooLong = bytes > TEXT_LIMIT_BYTES;
  const offered = hash ? matching(saved.replies, hash.query) : [];

  const toggle = (t: Tray) => setTray(tray === t ? null : t);

  const send = async (content: Content) => {
    setSending(true);
    setRefusal(null);
    try {
      const m = (await client.messages.send({
        channelId: conversation.channelId,
        to: conversation.igsid,
        content,
        ...(mode.humanAgent && { humanAgent: true }),
      })) as Message;
      onSent(m);
      return true;
    } catch (err) {
      setRefusal(refusalText(err));
      return false;
    } finally {
      setSending(false);
    }
  };

  const sendText = async () => {
    if (!text.trim() || tooLong) return;
    const content: Content = replies.length
      ? { type: 'text', text, quickReplies: replies }
      : { type: 'text', text };
    if (await send(content)) {
      setText('');
      setReplies([]);
      if (tray === 'replies') setTray(null);
    }
  };

  const sendMedia = (kind: MediaKind, url: string) =>
    send({ type: kind, [kind]: { url } } as unknown as Content);

  const upload = async (f: File) => {
    const type = attachmentTypeOf(f);
    setSending(true);
    setRefusal(null);
    try {
      const { attachmentId } = await client.attachments.upload({
        channelId: conversation.channelId,
        type,
        file: f,
        filename: f.name,
      });
      rememberUpload(attachmentId, f);
      await send({ type, [type]: { attachmentId } } as unknown as Content);
    } catch (err) {
      setRefusal(refusalText(err));
      setSending(false);
    }
  };

  const pick = (r: SavedReply) => {
    const box = inputRef.current;
    if (!hash || !box) return;
    const next = applyReply(text, hash, box.selectionStart ?? text.length, r.text);
    setText(next.text);
    setHash(null);
    requestAnimationFrame(() => box.setSelectionRange(next.caret, next.caret));
  };

  const saveReply = async (shortcut: string) => {
    setRefusal(null);
    try {
      await saved.save(shortcut, text);
      setTray(null);
      return true;
    } catch (err) {
      setRefusal(refusalText(err));
      return false;
    }
  };

  const windowState = mode.humanAgent ? 'human' : mode.enabled ? 'open' : 'closed';
  return (
    <div className={`composer ${mode.enabled ? '' : 'disabled'}`} data-window={windowState}>
      {mode.notice && (
        <div className={`window-notice ${mode.enabled ? 'warn' : 'closed'}`} role="status">
          {mode.notice}
        </div>
      )}
      {refusal && (
        <div className="refusal" role="alert">
          {refusal}
        </div>
      )}
      {mode.enabled && tray === 'replies' && <QuickReplyTray replies={replies} onChange={setReplies} />}
      {mode.enabled && tray === 'media' && <MediaTray sending={sending} onSend={sendMedia} />}
      {mode.enabled && tray === 'save' && <SaveReplyTray onSave={saveReply} />}
      {hash && <SavedReplyPicker replies={offered} active={active} onPick={pick} />}
      <div className="composer-row">
        <textarea
          ref={inputRef}
          value={text}
          rows={2}
          disabled={!mode.enabled}
          placeholder={
            mode.enabled ? 'Write a reply… (# for saved replies, Enter sends)' : 'Replies are closed'
          }
          aria-label="Reply"
          onChange={(e) => {
            setText(e.target.value);
            setHash(hashQuery(e.target.value, e.target.selectionStart ?? e.target.value.length));
            setActive(0);
          }}
          onBlur={() => setHash(null)}
          onKeyDown={(e) => {
            if (hash && offered.length > 0) {
              if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
                e.preventDefault();
                const n = Math.min(offered.length, 8);
                setActive((active + (e.key === 'ArrowDown' ? 1 : n - 1)) % n);
                return;
              }
              if (e.key === 'Enter' || e.key === 'Tab') {
                e.preventDefault();
                pick(offered[active]!);
                return;
              }
            }
            if (e.key === 'Escape') {
              if (hash) setHash(null);
              else e.currentTarget.blur();
              return;
            }
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              void sendText();
            }
          }}
        />
        <button
          type="button"
          className="primary"
          onClick={sendText}
          disabled={!mode.enabled || sending || !text.trim() || tooLong}
        >
          {mode.humanAgent ? 'Send as agent' : 'Send'}
        </button>
      </div>
      <div className="composer-tools">
        <button
          type="button"
          className={`tool ${tray === 'replies' ? 'on' : ''}`}
          disabled={!mode.enabled}
          onClick={() => toggle('replies')}
        >
          Quick replies{replies.length ? ` (${replies.length})` : ''}
        </button>
        <button
          type="button"
          className={`tool ${tray === 'media' ? 'on' : ''}`}
          disabled={!mode.enabled}
          onClick={() => toggle('media')}
        >
          Media by URL
        </button>
        <button
          type="button"
          className="tool"
          disabled={!mode.enabled || sending}
          onClick={() => file.current?.click()}
        >
          Upload
        </button>
        <input
          ref={file}
          type="file"
          hidden
          aria-label="File to send"
          onChange={(e) => {
            const f = e.target.files?.[0];
            e.target.value = '';
            if (f) void upload(f);
          }}
        />
        <button
          type="button"
          className="tool"
          disabled={!mode.enabled || sending}
          aria-label="Send a heart sticker"
          onClick={() => void send({ type: 'sticker', sticker: { id: 'like' } })}
        >
          ❤️
        </button>
        <button
          type="button"
          className={`tool wide ${tray === 'save' ? 'on' : ''}`}
          disabled={!text.trim()}
          onClick={() => toggle('save')}
        >
          Save reply
        </button>
        <span className={`bytes ${tooLong ? 'over' : ''}`} data-testid="byte-counter">
          {bytes} / {TEXT_LIMIT_BYTES} bytes
        </span>
      </div>
    </div>
  );
}
