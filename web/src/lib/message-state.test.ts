import { describe, expect, it } from 'vitest';
import { authorLabel, outboundState } from './message-state.ts';

// Where an outbound message stands, and who sent it, as its bubble says.

const msg = (status: string, error: unknown = null, possibleDuplicate = false) => ({
  status,
  error,
  possibleDuplicate,
});

describe('outboundState', () => {
  it('follows a message from queued to sent and seen', () => {
    expect(outboundState(msg('queued'))).toEqual({
      delivery: 'queued',
      label: 'Queued',
      canRetry: false,
      maybeTwice: false,
    });
    expect(outboundState(msg('sent')).delivery).toBe('sent');
    expect(outboundState(msg('seen')).label).toBe('Seen');
  });

  it('shows a queued message waiting for a retry with the last failure', () => {
    const s = outboundState(msg('queued', { reason: 'throttled', message: 'Meta asked to slow down' }));
    expect(s).toMatchObject({ delivery: 'retrying', canRetry: false });
    expect(s.label).toBe('Retrying: throttled: Meta asked to slow down');
  });

  it('offers a retry for a failed message, with the reason in words', () => {
    const s = outboundState(msg('failed', { reason: 'outside_window', message: 'outside_window' }));
    expect(s.delivery).toBe('failed');
    expect(s.canRetry).toBe(true);
    expect(s.label).toContain('Failed: The 24-hour window has closed');
    expect(outboundState(msg('failed', { message: 'Invalid parameter' })).label).toBe(
      'Failed: Invalid parameter',
    );
    expect(outboundState(msg('failed')).label).toBe('Failed: Instagram refused it.');
  });

  it('warns when Meta could not say whether an earlier try went', () => {
    expect(outboundState(msg('sent', null, true)).maybeTwice).toBe(true);
  });
});

describe('authorLabel', () => {
  const out = { direction: 'outbound' as const, agent: null, isEcho: false };
  it('names the bot and its rule, the agent, the API and the Instagram app', () => {
    expect(authorLabel({ ...out, author: 'bot' }, 'pricing')).toBe('Bot · rule pricing');
    expect(authorLabel({ ...out, author: 'bot' })).toBe('Bot');
    expect(authorLabel({ ...out, author: 'human', agent: 'Maria' })).toBe('Maria');
    expect(authorLabel({ ...out, author: 'human', isEcho: true })).toBe('Instagram app');
    expect(authorLabel({ ...out, author: 'api' })).toBe('API');
    expect(authorLabel({ ...out, direction: 'inbound', author: 'customer' })).toBe('Customer');
  });
});
