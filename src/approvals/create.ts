import type { Kysely } from 'kysely';
import { newSecret } from '../deliveries/signing.ts';
import { PolicyError, queueSend } from '../engine/outbox.ts';
import { newId } from '../engine/outbox-statements.ts';
import type { JobQueue } from '../queue/queue.ts';
import { type Approval, insertApproval, type StoredField } from '../store/approvals.ts';
import type { Channel } from '../store/channels.ts';
import { recordEvents } from '../store/events.ts';
import { conversationIdOf } from '../store/ids.ts';
import type { Database } from '../store/schema.ts';
import type { SecretBox } from '../store/secret-box.ts';
import { approvalContent, approvalText, type Display } from './dm.ts';
import { approvalView } from './view.ts';

// Asking for an approval: the DM goes to the approver through the outbox (exactly once, Meta's
// rules), and the approval is stored in the same transaction as the DM's message and send, with
// `approval.created`. The approver must be inside the 24-hour window (an approval DM is automated:
// no HUMAN_AGENT tag); otherwise nothing is sent and nothing is stored. A concealed value is used
// for nothing and kept nowhere; a masked one is sealed before it is stored.

export interface NewApproval {
  channel: Channel;
  approver: string;
  title: string;
  fields: { label: string; value: string | null; display: Display }[];
  callbackUrl?: string | undefined;
  /** Signs the callback (`whsec_…`); a new one is made (and answered once) when not given. */
  callbackSecret?: string | undefined;
  expiresInSeconds: number;
  metadata: Record<string, unknown>;
}

export interface ApprovalDeps {
  db: Kysely<Database>;
  jobs: Pick<JobQueue, 'enqueue' | 'wake'>;
  box: SecretBox;
}

/** The approver cannot be messaged now (never wrote, or wrote over 24 hours ago). */
export class OutsideWindow extends Error {}

export async function createApproval(
  deps: ApprovalDeps,
  input: NewApproval,
  now: number,
): Promise<{ approval: Approval; callbackSecret: string | null }> {
  const { channel, approver } = input;
  const id = newId('apr');
  // Throws ApprovalTooLong when the labels alone leave no room.
  const { text, shortened } = approvalText(input.title, input.fields);
  const fields: StoredField[] = input.fields.map(({ label, value, display }) =>
    display === 'visible'
      ? { label, display, value }
      : display === 'masked'
        ? { label, display, sealed: value === null ? null : deps.box.seal(value) }
        : { label, display },
  );
  const given = input.callbackUrl ? (input.callbackSecret ?? null) : null;
  const secret = input.callbackUrl ? (given ?? newSecret()) : null;
  // Set inside the send's transaction.
  const made: { approval?: Approval } = {};
  try {
    await queueSend(
      deps.db,
      deps.jobs,
      channel,
      {
        to: approver,
        content: approvalContent(id, text),
        author: 'approval',
        approvalId: id,
        causedBy: `approval:${id}`,
        also: async (trx, queued) => {
          const approval: Approval = {
            id,
            channelId: channel.id,
            conversationId: conversationIdOf(channel.id, approver),
            approver,
            title: input.title,
            fields: JSON.stringify(fields),
            status: 'pending',
            approved: null,
            respondedBy: null,
            respondedAt: null,
            decidedAt: null,
            decidedBy: null,
            expiresAt: now + input.expiresInSeconds * 1000,
            metadata: JSON.stringify(input.metadata),
            callbackUrl: input.callbackUrl ?? null,
            callbackSecret: secret === null ? null : deps.box.seal(secret),
            callbackDeliveryId: null,
            messageId: queued.messageId,
            shortened: JSON.stringify(shortened),
            createdAt: now,
            updatedAt: now,
          };
          await insertApproval(trx, approval);
          made.approval = approval;
          await recordEvents(
            trx,
            [
              {
                event: 'approval.created',
                channelId: channel.id,
                conversationId: approval.conversationId,
                data: { approval: approvalView(approval, null) },
              },
            ],
            now,
          );
        },
      },
      now,
    );
  } catch (err) {
    // never_messaged or outside_window: for an approval, both mean the window is not open.
    if (err instanceof PolicyError) throw new OutsideWindow(err.message);
    throw err;
  }
  if (!made.approval) throw new Error('the approval was not stored with its DM');
  // The secret is answered only when igdm made it: the caller's own is theirs already.
  return { approval: made.approval, callbackSecret: given === null ? secret : null };
}
