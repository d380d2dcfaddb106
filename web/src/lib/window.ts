import type { Conversation } from '@igdm/sdk';

// Meta's messaging windows, as the composer and the list show them: within 24 hours of the
// customer's last message anyone may answer; from then until 7 days only a human agent (igdm adds
// Meta's HUMAN_AGENT tag); after that, or to someone who never wrote, nothing may be sent.

export type WindowKind = 'open' | 'human' | 'closed';

export interface WindowState {
  kind: WindowKind;
  /** When the current stage ends (null when closed). */
  endsAt: number | null;
  /** Milliseconds left in it (0 when closed). */
  msLeft: number;
  /** Why nothing can be sent, when closed. */
  reason: 'never_messaged' | 'expired' | null;
}

type WindowFields = Pick<Conversation, 'lastInboundAt' | 'windowClosesAt' | 'humanWindowClosesAt'>;

const time = (iso: string | null) => (iso ? Date.parse(iso) : Number.NaN);

export function windowOf(c: WindowFields, now: number): WindowState {
  if (!c.lastInboundAt) return { kind: 'closed', endsAt: null, msLeft: 0, reason: 'never_messaged' };
  const closes = time(c.windowClosesAt);
  if (closes > now) return { kind: 'open', endsAt: closes, msLeft: closes - now, reason: null };
  const humanCloses = time(c.humanWindowClosesAt);
  if (humanCloses > now)
    return { kind: 'human', endsAt: humanCloses, msLeft: humanCloses - now, reason: null };
  return { kind: 'closed', endsAt: null, msLeft: 0, reason: 'expired' };
}

/** A duration as people say it: "23 h", "45 min", "3 d". */
export function durationLabel(ms: number): string {
  const minutes = Math.max(1, Math.floor(ms / 60_000));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h`;
  return `${Math.floor(hours / 24)} d`;
}

/** The short badge of the conversation list. */
export function windowBadge(w: WindowState): string {
  if (w.kind === 'open') return `${durationLabel(w.msLeft)} left`;
  if (w.kind === 'human') return `Human reply only · ${durationLabel(w.msLeft)}`;
  return 'Closed';
}

/** What the composer sends and says in each stage. */
export interface ComposerMode {
  /** Whether a message may be sent at all. */
  enabled: boolean;
  /** Send with `humanAgent: true` (Meta's HUMAN_AGENT tag). */
  humanAgent: boolean;
  /** The line above the text box; null when nothing needs saying. */
  notice: string | null;
}

export function composerMode(w: WindowState): ComposerMode {
  if (w.kind === 'open') return { enabled: true, humanAgent: false, notice: null };
  if (w.kind === 'human')
    return {
      enabled: true,
      humanAgent: true,
      notice:
        `The 24-hour window has closed: this reply goes as a human agent's (Meta's HUMAN_AGENT tag), ` +
        `possible for ${durationLabel(w.msLeft)} more. The bot stays silent.`,
    };
  return {
    enabled: false,
    humanAgent: false,
    notice:
      w.reason === 'never_messaged'
        ? 'This person has never written to you: Instagram allows no first message.'
        : 'More than 7 days have passed since the customer last wrote: Instagram allows no reply until they write again.',
  };
}
