import { describe, expect, it } from 'vitest';
import { splitWebhook } from '../../src/meta/webhook.ts';

const entry = (items: Record<string, unknown>) => ({
  object: 'instagram',
  entry: [{ id: '1784', time: 1700000000000, ...items }],
});
const msg = (message: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  sender: { id: 'U1' },
  recipient: { id: '1784' },
  timestamp: 1700000000001,
  message,
  ...extra,
});

describe('splitting a webhook body into events', () => {
  it('splits every entry and every messaging, standby and changes item', () => {
    const body = {
      object: 'instagram',
      entry: [
        { id: 'A', time: 1, messaging: [msg({ mid: 'm1' }), msg({ mid: 'm2' })] },
        {
          id: 'B',
          time: 2,
          standby: [msg({ mid: 'm3' })],
          changes: [{ field: 'comments', value: { id: 'c1', from: { id: 'U9' } } }],
        },
      ],
    };
    const events = splitWebhook(body);
    expect(events.map((e) => [e.entryId, e.source, e.kind])).toEqual([
      ['A', 'messaging', 'message'],
      ['A', 'messaging', 'message'],
      ['B', 'standby', 'message'],
      ['B', 'changes', 'comments'],
    ]);
    expect(events[3]).toMatchObject({ igsid: 'U9', timestamp: 2000 });
  });

  it('keys message events by mid and kind, so redeliveries share a key', () => {
    const [m] = splitWebhook(entry({ messaging: [msg({ mid: 'X', text: 'a' })] }));
    const [echo] = splitWebhook(
      entry({
        messaging: [{ ...msg({ mid: 'X', is_echo: true }), sender: { id: '1784' }, recipient: { id: 'U1' } }],
      }),
    );
    const [unsend] = splitWebhook(entry({ messaging: [msg({ mid: 'X', is_deleted: true })] }));
    expect(m).toMatchObject({ dedupKey: 'message:X', igsid: 'U1', timestamp: 1700000000001 });
    expect(echo).toMatchObject({ dedupKey: 'echo:X', kind: 'echo', igsid: 'U1' });
    expect(unsend).toMatchObject({ dedupKey: 'unsend:X', kind: 'unsend' });
  });

  it('keys other events by a hash of the event as sent', () => {
    const react = (action: string, timestamp: number) =>
      splitWebhook(
        entry({
          messaging: [
            { sender: { id: 'U1' }, recipient: { id: '1784' }, timestamp, reaction: { mid: 'X', action } },
          ],
        }),
      )[0]!;
    expect(react('react', 5).dedupKey).toBe(react('react', 5).dedupKey);
    expect(react('react', 5).dedupKey).not.toBe(react('unreact', 5).dedupKey);
    expect(react('react', 5).dedupKey).not.toBe(react('react', 6).dedupKey);
    expect(react('react', 5)).toMatchObject({ kind: 'reaction', igsid: 'U1' });
  });

  it('turns any other shape into one unknown event that keeps the payload', () => {
    for (const body of [
      null,
      42,
      'x',
      [1],
      { object: 'instagram' },
      { entry: [] },
      { object: 'instagram', entry: 'no' },
    ]) {
      const events = splitWebhook(body);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ source: 'unknown', kind: 'unknown', payload: body });
    }
    const [e] = splitWebhook({ object: 'instagram', entry: [{ id: '1', other: true }] });
    expect(e).toMatchObject({ source: 'unknown', entryId: '1', payload: { id: '1', other: true } });
  });
});
