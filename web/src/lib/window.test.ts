import { describe, expect, it } from 'vitest';
import { composerMode, durationLabel, windowBadge, windowOf } from './window.ts';

// Meta's windows as the inbox shows them: open for 24 hours after the customer's last message, a
// human agent's reply only until 7 days, then closed; closed too for someone who never wrote.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T = Date.UTC(2026, 11, 6, 12);
const iso = (t: number) => new Date(t).toISOString();
/** A conversation whose customer last wrote at `t`, as igdm answers it. */
const wroteAt = (t: number) => ({
  lastInboundAt: iso(t),
  windowClosesAt: iso(t + DAY),
  humanWindowClosesAt: iso(t + 7 * DAY),
});

describe('windowOf', () => {
  it('is closed for someone who never wrote', () => {
    const w = windowOf({ lastInboundAt: null, windowClosesAt: null, humanWindowClosesAt: null }, T);
    expect(w).toEqual({ kind: 'closed', endsAt: null, msLeft: 0, reason: 'never_messaged' });
  });

  it('is open within 24 hours, with the time left', () => {
    const w = windowOf(wroteAt(T - 5 * HOUR), T);
    expect(w).toEqual({ kind: 'open', endsAt: T + 19 * HOUR, msLeft: 19 * HOUR, reason: null });
    expect(windowBadge(w)).toBe('19 h left');
  });

  it('asks for a human agent from 24 hours to 7 days, exactly at the edges', () => {
    expect(windowOf(wroteAt(T - DAY + 1), T).kind).toBe('open');
    expect(windowOf(wroteAt(T - DAY), T).kind).toBe('human');
    const w = windowOf(wroteAt(T - 3 * DAY), T);
    expect(w).toEqual({ kind: 'human', endsAt: T + 4 * DAY, msLeft: 4 * DAY, reason: null });
    expect(windowBadge(w)).toBe('Human reply only · 4 d');
    expect(windowOf(wroteAt(T - 7 * DAY + 1), T).kind).toBe('human');
  });

  it('is closed after 7 days', () => {
    const w = windowOf(wroteAt(T - 7 * DAY), T);
    expect(w).toEqual({ kind: 'closed', endsAt: null, msLeft: 0, reason: 'expired' });
    expect(windowBadge(w)).toBe('Closed');
  });
});

describe('composerMode', () => {
  it('sends any reply while the window is open, and says nothing', () => {
    expect(composerMode(windowOf(wroteAt(T - HOUR), T))).toEqual({
      enabled: true,
      humanAgent: false,
      notice: null,
    });
  });

  it("sends a human agent's reply after 24 hours, and says so", () => {
    const m = composerMode(windowOf(wroteAt(T - 2 * DAY), T));
    expect(m.enabled).toBe(true);
    expect(m.humanAgent).toBe(true);
    expect(m.notice).toContain("human agent's (Meta's HUMAN_AGENT tag)");
    expect(m.notice).toContain('5 d more');
  });

  it('is disabled after 7 days, and to someone who never wrote, with the reason', () => {
    const late = composerMode(windowOf(wroteAt(T - 8 * DAY), T));
    expect(late).toMatchObject({ enabled: false, humanAgent: false });
    expect(late.notice).toContain('More than 7 days have passed');
    const never = composerMode(
      windowOf({ lastInboundAt: null, windowClosesAt: null, humanWindowClosesAt: null }, T),
    );
    expect(never.enabled).toBe(false);
    expect(never.notice).toContain('never written');
  });
});

describe('durationLabel', () => {
  it('says minutes, hours under two days, then days', () => {
    expect(durationLabel(0)).toBe('1 min');
    expect(durationLabel(59 * 60_000)).toBe('59 min');
    expect(durationLabel(HOUR)).toBe('1 h');
    expect(durationLabel(47 * HOUR + 59 * 60_000)).toBe('47 h');
    expect(durationLabel(2 * DAY)).toBe('2 d');
  });
});
