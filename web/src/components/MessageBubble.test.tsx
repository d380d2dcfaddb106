import type { Message } from '@igdm/sdk';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MessageBubble } from './MessageBubble.tsx';

// The kinds the sandbox cannot make (an ad's referral, an edit, what Instagram marks unsupported)
// and an outbound message's state and retry.

function message(fields: Partial<Message>): Message {
  return {
    id: 'msg_1',
    mid: 'm_1',
    conversationId: 'cnv_1',
    channelId: 'default',
    direction: 'inbound',
    type: 'text',
    text: null,
    attachments: [],
    replyTo: null,
    payload: null,
    referral: null,
    reactions: [],
    status: 'received',
    error: null,
    isEcho: false,
    possibleDuplicate: false,
    backfilled: false,
    author: 'customer',
    agent: null,
    editedAt: null,
    deletedAt: null,
    seenAt: null,
    createdAt: '2026-12-06T10:00:00.000Z',
    approvalId: null,
    ...fields,
  };
}

const show = (m: Message, onRetry = vi.fn(async () => undefined)) =>
  render(<MessageBubble m={m} find={() => undefined} onRetry={onRetry} />);

afterEach(cleanup);

describe('MessageBubble', () => {
  it('shows where an ad or an ig.me link brought the customer from', () => {
    show(
      message({
        text: 'Is this still on sale?',
        referral: { source: 'ADS', type: 'OPEN_THREAD', adId: '6045', ref: 'summer', adsContextData: null },
      }),
    );
    const referral = document.querySelector('[data-kind="referral"]')!;
    expect(referral.textContent).toContain('From an ad');
    expect(referral.textContent).toContain('ad 6045');
    expect(referral.textContent).toContain('ref summer');
    cleanup();
    show(
      message({
        text: 'Hi',
        referral: {
          source: 'SHORTLINKS',
          ref: 'bio-link',
          type: 'OPEN_THREAD',
          adId: null,
          adsContextData: null,
        },
      }),
    );
    expect(document.querySelector('[data-kind="referral"]')!.textContent).toContain(
      'From an ig.me link · ref bio-link',
    );
  });

  it('marks edited and unsent messages', () => {
    show(message({ text: 'See you at 5', editedAt: '2026-12-06T10:01:00.000Z' }));
    expect(screen.getByText('edited')).toBeTruthy();
    cleanup();
    show(message({ text: 'Oops', deletedAt: '2026-12-06T10:01:00.000Z' }));
    expect(screen.getByText('unsent')).toBeTruthy();
  });

  it('says what Instagram did not share', () => {
    show(message({ type: 'unsupported' }));
    expect(screen.getByText('Unsupported message: Instagram did not share its content.')).toBeTruthy();
  });

  it('makes links in text clickable, and nothing else', () => {
    show(message({ text: 'Look: https://shop.example/mug. <b>bold</b>' }));
    const link = screen.getByRole('link');
    expect(link.getAttribute('href')).toBe('https://shop.example/mug');
    expect(link.getAttribute('rel')).toBe('noopener noreferrer');
    expect(document.querySelector('b')).toBeNull();
  });

  it("shows an outbound message's author and state, and retries a failed one", async () => {
    const onRetry = vi.fn(async () => undefined);
    show(
      message({
        direction: 'outbound',
        author: 'human',
        agent: 'Maria',
        text: 'On its way!',
        status: 'failed',
        error: { reason: 'outside_human_agent_window', message: 'outside_human_agent_window' },
      }),
      onRetry,
    );
    expect(screen.getByText('Maria')).toBeTruthy();
    expect(document.querySelector('.state')!.textContent).toContain('Failed: More than 7 days have passed');
    fireEvent.click(screen.getByRole('button', { name: 'Retry' }));
    await waitFor(() => expect(onRetry).toHaveBeenCalledTimes(1));
  });
});
