import { describe, expect, it } from 'vitest';
import { HOUR, messagePolicy, privateReplyPolicy } from '../../src/meta/policy.ts';

const T0 = Date.UTC(2026, 10, 1, 12);
const at = (hours: number, ms = 0) => T0 + hours * HOUR + ms;

describe('the messaging window', () => {
  it('refuses anyone who never wrote (no cold outreach), bot or human', () => {
    for (const human of [false, true]) {
      expect(messagePolicy({ lastInboundAt: null, human, now: T0 })).toMatchObject({
        allowed: false,
        reason: 'never_messaged',
      });
    }
  });

  it('lets anyone answer untagged until the 24th hour, and only until then', () => {
    for (const human of [false, true]) {
      expect(messagePolicy({ lastInboundAt: T0, human, now: T0 })).toEqual({
        allowed: true,
        messagingType: 'RESPONSE',
      });
      expect(messagePolicy({ lastInboundAt: T0, human, now: at(24, -1) })).toEqual({
        allowed: true,
        messagingType: 'RESPONSE',
      });
    }
    expect(messagePolicy({ lastInboundAt: T0, human: false, now: at(24) })).toMatchObject({
      allowed: false,
      reason: 'outside_window',
    });
  });

  it('lets a human answer with HUMAN_AGENT from the 24th hour until the 7th day', () => {
    const tagged = { allowed: true, messagingType: 'MESSAGE_TAG', tag: 'HUMAN_AGENT' };
    expect(messagePolicy({ lastInboundAt: T0, human: true, now: at(24) })).toEqual(tagged);
    expect(messagePolicy({ lastInboundAt: T0, human: true, now: at(7 * 24, -1) })).toEqual(tagged);
    expect(messagePolicy({ lastInboundAt: T0, human: true, now: at(7 * 24) })).toMatchObject({
      allowed: false,
      reason: 'outside_human_agent_window',
    });
  });

  it('never tags automation, however the window stands', () => {
    for (const hours of [0, 1, 23, 24, 48, 24 * 7, 24 * 30]) {
      const d = messagePolicy({ lastInboundAt: T0, human: false, now: at(hours) });
      expect(d).not.toHaveProperty('tag');
    }
  });

  it('explains every refusal in words', () => {
    const d = messagePolicy({ lastInboundAt: T0, human: false, now: at(30) });
    expect(d.allowed === false && d.message).toMatch(/24-hour window/);
  });
});

describe('private replies to comments', () => {
  it('allows one reply within 7 days of the comment', () => {
    expect(privateReplyPolicy({ commentedAt: T0, alreadyReplied: false, now: at(7 * 24, -1) })).toMatchObject(
      { allowed: true },
    );
    expect(privateReplyPolicy({ commentedAt: T0, alreadyReplied: false, now: at(7 * 24) })).toMatchObject({
      allowed: false,
      reason: 'private_reply_expired',
    });
    expect(privateReplyPolicy({ commentedAt: T0, alreadyReplied: true, now: at(1) })).toMatchObject({
      allowed: false,
      reason: 'private_reply_used',
    });
  });
});
