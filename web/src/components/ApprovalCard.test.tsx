import type { Approval } from '@igdm/sdk';
import { cleanup, render } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { newer } from '../hooks/useApprovals.ts';
import { ApprovalCard } from './ApprovalCard.tsx';

// An approval's card in each state, with the fields its DM showed; and the store keeping a decision
// over a pending copy read late.

function approval(fields: Partial<Approval>): Approval {
  return {
    id: 'apr_1',
    channelId: 'default',
    conversationId: 'cnv_1',
    approver: '1784100',
    title: 'Refund order #1042',
    fields: [
      { label: 'Amount', display: 'visible', value: '$120.00' },
      { label: 'Card', display: 'masked', value: '4242 4242 4242 4242' },
      { label: 'Reason', display: 'concealed', value: null },
    ],
    status: 'pending',
    approved: null,
    respondedBy: null,
    respondedAt: null,
    decidedAt: null,
    expiresAt: '2026-12-06T11:00:00.000Z',
    createdAt: '2026-12-06T10:00:00.000Z',
    metadata: {},
    callbackUrl: null,
    callback: null,
    messageId: 'msg_1',
    shortened: [],
    ...fields,
  };
}

const nameOf = (igsid: string) => (igsid === '1784100' ? 'Ana Lima' : igsid);
const card = () => document.querySelector('[data-kind="approval"]')!;
const outcome = () => document.querySelector('[data-testid="approval-outcome"]')!.textContent;

afterEach(cleanup);

describe('ApprovalCard', () => {
  it('shows the title and the fields as the DM did: masked as dots, concealed not at all', () => {
    render(<ApprovalCard approval={approval({})} nameOf={nameOf} />);
    expect(card().getAttribute('data-state')).toBe('pending');
    expect(card().textContent).toContain('Refund order #1042');
    expect([...card().querySelectorAll('dt')].map((e) => e.textContent)).toEqual(['Amount', 'Card']);
    expect([...card().querySelectorAll('dd')].map((e) => e.textContent)).toEqual(['$120.00', '••••••••']);
    expect(card().textContent).not.toContain('4242');
    expect(outcome()).toMatch(/^Waiting for Ana Lima · expires /);
  });

  it('says who decided and when, or how it ended without an answer', () => {
    const at = '2026-12-06T10:05:00.000Z';
    for (const [status, approved] of [
      ['approved', true],
      ['rejected', false],
    ] as const) {
      render(
        <ApprovalCard
          approval={approval({ status, approved, respondedBy: '1784100', respondedAt: at, decidedAt: at })}
          nameOf={nameOf}
        />,
      );
      expect(card().getAttribute('data-state')).toBe(status);
      expect(outcome()).toMatch(
        new RegExp(`^${status === 'approved' ? 'Approved' : 'Rejected'} by Ana Lima · `),
      );
      cleanup();
    }
    for (const status of ['expired', 'cancelled'] as const) {
      render(<ApprovalCard approval={approval({ status, decidedAt: at })} nameOf={nameOf} />);
      expect(outcome()).toMatch(new RegExp(`^${status === 'expired' ? 'Expired' : 'Cancelled'} · `));
      expect(outcome()).not.toContain('by');
      cleanup();
    }
  });

  it('keeps a decision when a pending copy comes later (a list read before it)', () => {
    const decided = approval({ status: 'approved' });
    expect(newer(decided, approval({}))).toBe(false);
    expect(newer(approval({}), decided)).toBe(true);
    expect(newer(undefined, approval({}))).toBe(true);
  });
});
