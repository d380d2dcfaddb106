import type { Approval, Message, Referral } from '@igdm/sdk';
import { Fragment, useState } from 'react';
import { authorLabel, outboundState } from '../lib/message-state.ts';
import { fullTime, shortTime } from '../lib/time.ts';
import { ApprovalCard } from './ApprovalCard.tsx';
import { Attachment, type AttachmentJson, Story } from './Attachments.tsx';

// One message of the thread: its text (links clickable), what it carries, what it answers, the
// customer's reactions on it, and for an outbound one who sent it and where it stands.

const LINK = /(https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]])/g;

export function Linkified({ text }: { text: string }) {
  const parts = text.split(LINK);
  return (
    <>
      {parts.map((part, i) =>
        i % 2 === 1 ? (
          // biome-ignore lint/suspicious/noArrayIndexKey: the parts of one text, in order
          <a key={i} href={part} target="_blank" rel="noopener noreferrer">
            {part}
          </a>
        ) : (
          // biome-ignore lint/suspicious/noArrayIndexKey: the parts of one text, in order
          <Fragment key={i}>{part}</Fragment>
        ),
      )}
    </>
  );
}

function ReferralNote({ referral }: { referral: Referral }) {
  const fromAd = referral.source === 'ADS' || Boolean(referral.adId);
  return (
    <div className="referral" data-kind="referral">
      <span className="chip">{fromAd ? 'From an ad' : 'From an ig.me link'}</span>
      {referral.adId && <span> ad {referral.adId}</span>}
      {referral.ref && <span> · ref {referral.ref}</span>}
      {referral.source && <span className="muted"> · {referral.source.toLowerCase()}</span>}
    </div>
  );
}

type ReplyTo = { mid: string } | { story: { id?: string; url?: string } } | null;

function Quote({ replyTo, find }: { replyTo: ReplyTo; find: (mid: string) => Message | undefined }) {
  if (!replyTo) return null;
  if ('story' in replyTo) return <Story url={replyTo.story.url} label="Replied to your story" />;
  const quoted = find(replyTo.mid);
  return (
    <div className="quote" data-kind="reply">
      ↪ {quoted ? (quoted.text ?? `a ${quoted.type}`) : 'an earlier message'}
    </div>
  );
}

export interface BubbleProps {
  m: Message;
  rule?: string;
  find: (mid: string) => Message | undefined;
  onRetry: (m: Message) => Promise<void>;
  /** The approval this message is the DM of: shown as its card. */
  approval?: Approval | undefined;
  /** A person's name from their IGSID (who decided an approval). */
  nameOf?: (igsid: string) => string;
}

export function MessageBubble({ m, rule, find, onRetry, approval, nameOf = (id) => id }: BubbleProps) {
  const [retrying, setRetrying] = useState(false);
  const outbound = m.direction === 'outbound';
  const state = outbound ? outboundState(m) : null;
  const attachments = (m.attachments as AttachmentJson[]).filter((a) => a && typeof a.type === 'string');
  const isPostback = m.type === 'postback';
  const unsupported = m.type === 'unsupported' && !m.text && attachments.length === 0;
  // Media and cards alone need no bubble around them.
  const bare =
    Boolean(approval) || (!m.text && attachments.length > 0 && !m.payload && !m.replyTo && !m.referral);
  return (
    <div
      className={`message ${outbound ? 'out' : 'in'}${m.deletedAt ? ' deleted' : ''}`}
      data-message-id={m.id}
      data-type={m.type}
      data-status={m.status}
    >
      <div className={`bubble${bare ? ' bare' : ''}`} title={fullTime(m.createdAt)}>
        <Quote replyTo={m.replyTo as ReplyTo} find={find} />
        {m.referral ? <ReferralNote referral={m.referral} /> : null}
        {approval ? (
          <ApprovalCard approval={approval} nameOf={nameOf} />
        ) : isPostback ? (
          <div className="tap" data-kind="postback">
            <span className="chip">Tapped a button</span> {m.text} <code>{m.payload}</code>
          </div>
        ) : (
          m.text && (
            <div className="text">
              <Linkified text={m.text} />
            </div>
          )
        )}
        {!isPostback && m.payload && (
          <div className="tap" data-kind="quick_reply">
            <span className="chip">Quick reply</span> <code>{m.payload}</code>
          </div>
        )}
        {attachments.map((a, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: a message's attachments never move
          <Attachment key={i} a={a} />
        ))}
        {unsupported && (
          <div className="card muted" data-kind="unsupported">
            Unsupported message: Instagram did not share its content.
          </div>
        )}
        {m.reactions.length > 0 && (
          <div className="reactions" data-kind="reactions">
            {m.reactions.map((r) => (
              <span key={`${r.by}-${r.reaction}`} title={r.reaction}>
                {r.emoji ?? '❤️'}
              </span>
            ))}
          </div>
        )}
      </div>
      <div className="meta">
        {outbound && <span className="author">{authorLabel(m, rule)}</span>}
        <span>{shortTime(m.createdAt)}</span>
        {m.editedAt && <span className="marker">edited</span>}
        {m.deletedAt && <span className="marker">unsent</span>}
        {state && (
          <span className={`state ${state.delivery}`} data-state={state.delivery}>
            {state.label}
          </span>
        )}
        {state?.maybeTwice && <span className="marker">may show twice</span>}
        {state?.canRetry && (
          <button
            type="button"
            className="link"
            disabled={retrying}
            onClick={async () => {
              setRetrying(true);
              await onRetry(m).finally(() => setRetrying(false));
            }}
          >
            Retry
          </button>
        )}
      </div>
    </div>
  );
}
