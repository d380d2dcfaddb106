import { type Approval, type CallbackState, fieldsOf } from '../store/approvals.ts';
import type { SecretBox } from '../store/secret-box.ts';

// An approval as the API, the event stream and webhook endpoints show it. A concealed field's value
// is null (igdm never had it past the request); a masked one's is opened only for a caller allowed
// to see it (an admin key): `reveal` is null everywhere else, events included.

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function approvalView(a: Approval, callback: CallbackState | null, reveal: SecretBox | null = null) {
  return {
    id: a.id,
    channelId: a.channelId,
    conversationId: a.conversationId,
    approver: a.approver,
    title: a.title,
    fields: fieldsOf(a).map((f) => ({
      label: f.label,
      display: f.display,
      value:
        f.display === 'visible'
          ? f.value
          : f.display === 'masked' && reveal && f.sealed !== null
            ? reveal.open(f.sealed)
            : null,
    })),
    status: a.status,
    approved: a.approved === null ? null : a.approved === 1,
    respondedBy: a.respondedBy,
    respondedAt: iso(a.respondedAt),
    decidedAt: iso(a.decidedAt),
    expiresAt: iso(a.expiresAt)!,
    createdAt: iso(a.createdAt)!,
    metadata: JSON.parse(a.metadata) as Record<string, unknown>,
    callbackUrl: a.callbackUrl,
    callback,
    messageId: a.messageId,
    shortened: JSON.parse(a.shortened) as string[],
  };
}

export type ApprovalView = ReturnType<typeof approvalView>;

/** What a callback POSTs: the decision, and the caller's metadata. */
export const callbackBody = (a: Approval) => ({
  type: 'approval.decided',
  approvalId: a.id,
  status: a.status,
  approved: a.approved === null ? null : a.approved === 1,
  respondedBy: a.respondedBy,
  respondedAt: iso(a.respondedAt),
  decidedAt: iso(a.decidedAt),
  metadata: JSON.parse(a.metadata) as Record<string, unknown>,
});
