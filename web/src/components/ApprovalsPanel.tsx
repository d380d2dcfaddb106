import type { Approval, Conversation } from '@igdm/sdk';
import { ago, fullTime, shortTime } from '../lib/time.ts';
import { displayName } from './Avatar.tsx';

// Beside the thread: the approvals still waiting for an answer, newest first, each opening the
// conversation its DM went to.

export interface ApprovalsPanelProps {
  pending: Approval[];
  /** The conversations the list holds (for the approvers' names). */
  conversations: Conversation[];
  now: number;
  onOpen: (conversationId: string) => void;
  onClose: () => void;
}

const asked = (iso: string, now: number) => {
  const when = ago(iso, now);
  return when === 'now' ? 'just now' : `${when} ago`;
};

export function ApprovalsPanel({ pending, conversations, now, onOpen, onClose }: ApprovalsPanelProps) {
  const nameOf = (a: Approval) => {
    const c = conversations.find((x) => x.id === a.conversationId);
    return c ? displayName(c) : a.approver;
  };
  return (
    <aside className="side approvals" aria-label="Pending approvals">
      <div className="side-head">
        <strong>Pending approvals</strong>
        <button type="button" className="icon close" aria-label="Close pending approvals" onClick={onClose}>
          ×
        </button>
      </div>
      {pending.length === 0 ? (
        <p className="muted">No approval is waiting for an answer.</p>
      ) : (
        <ul className="pending-approvals">
          {pending.map((a) => (
            <li key={a.id} data-approval-id={a.id}>
              <button type="button" onClick={() => onOpen(a.conversationId)}>
                <span className="card-title">{a.title}</span>
                <span className="muted">
                  {nameOf(a)} · asked {asked(a.createdAt, now)} ·{' '}
                  <span title={fullTime(a.expiresAt)}>expires {shortTime(a.expiresAt, now)}</span>
                </span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </aside>
  );
}
