import type { Content, Conversation, Igdm, Message, QuickReply } from '@igdm/sdk';
import { type RefObject, useState } from 'react';
import { TEXT_LIMIT_BYTES, utf8Bytes } from '../lib/bytes.ts';
import { refusalText } from '../lib/refusals.ts';
import type { ComposerMode } from '../lib/window.ts';

// The reply box: text (with its size in bytes against Meta's 1000), quick replies, media by URL and
// the heart sticker. What the window allows decides how it sends (a human agent's reply from 24
// hours on) or whether it can at all; a refusal shows igdm's reason in plain words.

type MediaKind = 'image' | 'video' | 'audio' | 'file';

export interface ComposerProps {
  client: Igdm;
  conversation: Conversation;
  mode: ComposerMode;
  onSent: (m: Message) => void;
  inputRef: RefObject<HTMLTextAreaElement | null>;
}

export function Composer({ client, conversation, mode, onSent, inputRef }: ComposerProps) {
  const [text, setText] = useState('');
  const [replies, setReplies] = useState<QuickReply[]>([]);
  const [replyTitle, setReplyTitle] = useState('');
  const [showReplies, setShowReplies] = useState(false);
  const [showMedia, setShowMedia] = useState(false);
  const [mediaKind, setMediaKind] = useState<MediaKind>('image');
  const [mediaUrl, setMediaUrl] = useState('');
  const [sending, setSending] = useState(false);
  const [refusal, setRefusal] = useState<string | null>(null);
  const bytes = utf8Bytes(text);
  const tooLong = bytes > TEXT_LIMIT_BYTES;

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
      setShowReplies(false);
    }
  };

  const sendMedia = async () => {
    const url = mediaUrl.trim();
    if (!url) return;
    const content = { type: mediaKind, [mediaKind]: { url } } as unknown as Content;
    if (await send(content)) {
      setMediaUrl('');
      setShowMedia(false);
    }
  };

  const addReply = () => {
    const title = replyTitle.trim().slice(0, 20);
    if (!title || replies.length >= 13) return;
    setReplies([...replies, { title, payload: title.toUpperCase().replace(/\W+/g, '_') }]);
    setReplyTitle('');
  };

  return (
    <div
      className={`composer ${mode.enabled ? '' : 'disabled'}`}
      data-window={mode.humanAgent ? 'human' : mode.enabled ? 'open' : 'closed'}
    >
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
      {showReplies && mode.enabled && (
        <div className="tray">
          {replies.map((r, i) => (
            <span className="chip removable" key={r.payload + String(i)}>
              {r.title}
              <button
                type="button"
                aria-label={`Remove ${r.title}`}
                onClick={() => setReplies(replies.filter((_, j) => j !== i))}
              >
                ×
              </button>
            </span>
          ))}
          <input
            value={replyTitle}
            maxLength={20}
            placeholder="Quick reply (≤ 20 characters)"
            aria-label="Quick reply title"
            onChange={(e) => setReplyTitle(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                e.preventDefault();
                addReply();
              }
            }}
          />
          <button type="button" onClick={addReply} disabled={!replyTitle.trim() || replies.length >= 13}>
            Add
          </button>
        </div>
      )}
      {showMedia && mode.enabled && (
        <div className="tray">
          <select
            aria-label="Media kind"
            value={mediaKind}
            onChange={(e) => setMediaKind(e.target.value as MediaKind)}
          >
            <option value="image">Image</option>
            <option value="video">Video</option>
            <option value="audio">Audio</option>
            <option value="file">File</option>
          </select>
          <input
            type="url"
            value={mediaUrl}
            placeholder="https://…"
            aria-label="Media URL"
            onChange={(e) => setMediaUrl(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                e.preventDefault();
                void sendMedia();
              }
            }}
          />
          <button type="button" onClick={sendMedia} disabled={sending || !mediaUrl.trim()}>
            Send {mediaKind}
          </button>
        </div>
      )}
      <div className="composer-row">
        <textarea
          ref={inputRef}
          value={text}
          rows={2}
          disabled={!mode.enabled}
          placeholder={
            mode.enabled ? 'Write a reply… (Enter sends, Shift+Enter for a new line)' : 'Replies are closed'
          }
          aria-label="Reply"
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey) {
              e.preventDefault();
              void sendText();
            }
            if (e.key === 'Escape') e.currentTarget.blur();
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
          className={`tool ${showReplies ? 'on' : ''}`}
          disabled={!mode.enabled}
          onClick={() => setShowReplies(!showReplies)}
        >
          Quick replies{replies.length ? ` (${replies.length})` : ''}
        </button>
        <button
          type="button"
          className={`tool ${showMedia ? 'on' : ''}`}
          disabled={!mode.enabled}
          onClick={() => setShowMedia(!showMedia)}
        >
          Media by URL
        </button>
        <button
          type="button"
          className="tool"
          disabled={!mode.enabled || sending}
          aria-label="Send a heart sticker"
          onClick={() => void send({ type: 'sticker', sticker: { id: 'like' } })}
        >
          ❤️
        </button>
        <span className={`bytes ${tooLong ? 'over' : ''}`} data-testid="byte-counter">
          {bytes} / {TEXT_LIMIT_BYTES} bytes
        </span>
      </div>
    </div>
  );
}
