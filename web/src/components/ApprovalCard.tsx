import type { Approval, ApprovalStatus } from '@igdm/sdk';
import { fullTime, shortTime } from '../lib/time.ts';

// An approval as its DM shows in the thread: the title, the fields the approver saw (masked ones
// as dots, concealed ones not at all), and where it stands: waiting for the approver, or who
// decided and when.

const STATE: Record<ApprovalStatus, string> = {
  pending: 'Pending',
  approved: 'Approved',
  rejected: 'Rejected',
  expired: 'Expired',
  cancelled: 'Cancelled',
};

export interface ApprovalCardProps {
  approval: Approval;
  /** A person's name from their IGSID (the approver's). */
  nameOf: (igsid: string) => string;
}

export function ApprovalCard({ approval: a, nameOf }: ApprovalCardProps) {
  const shown = a.fields.filter((f) => f.display !== 'concealed');
  let outcome: string;
  let at: string | null;
  if (a.status === 'pending') {
    outcome = `Waiting for ${nameOf(a.approver)} · expires ${shortTime(a.expiresAt)}`;
    at = a.expiresAt;
  } else if (a.respondedBy) {
    outcome = `${STATE[a.status]} by ${nameOf(a.respondedBy)} · ${shortTime(a.respondedAt)}`;
    at = a.respondedAt;
  } else {
    outcome = `${STATE[a.status]} · ${shortTime(a.decidedAt)}`;
    at = a.decidedAt;
  }
  return (
    <div className="card approval" data-kind="approval" data-approval-id={a.id} data-state={a.status}>
      <div className="approval-head">
        <span className="card-label">📋 Approval</span>
        <span className={`approval-state ${a.status}`}>{STATE[a.status]}</span>
      </div>
      <div className="card-title">{a.title}</div>
      {shown.length > 0 && (
        <dl className="approval-fields">
          {shown.map((f) => (
            <div key={f.label}>
              <dt>{f.label}</dt>
              <dd>{f.display === 'masked' ? '••••••••' : f.value}</dd>
            </div>
          ))}
        </dl>
      )}
      <div className="card-sub" data-testid="approval-outcome" title={fullTime(at)}>
        {outcome}
      </div>
    </div>
  );
}
