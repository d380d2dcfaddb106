// Times as a list and a thread show them.

// Made on first use: the browser's date formatting takes 30–100 ms to start in a new tab, and the
// list (the first screen) shows times without it (ago).
let formats: { hm: Intl.DateTimeFormat; dayMonth: Intl.DateTimeFormat; full: Intl.DateTimeFormat } | null =
  null;
const format = () =>
  (formats ??= {
    hm: new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' }),
    dayMonth: new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' }),
    full: new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }),
  });

/** "10:42" today, "3 Dec" before. */
export function shortTime(iso: string | null, now = Date.now()): string {
  if (!iso) return '';
  const t = new Date(iso);
  return new Date(now).toDateString() === t.toDateString()
    ? format().hm.format(t)
    : format().dayMonth.format(t);
}

/** How long ago, as a conversation list says it: "now", "5m", "3h", "2d", "4mo", "1y". */
export function ago(iso: string | null, now: number): string {
  if (!iso) return '';
  const minutes = Math.floor((now - Date.parse(iso)) / 60_000);
  if (minutes < 1) return 'now';
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (days < 30) return `${days}d`;
  if (days < 365) return `${Math.floor(days / 30)}mo`;
  return `${Math.floor(days / 365)}y`;
}

export const fullTime = (iso: string | null) => (iso ? format().full.format(new Date(iso)) : '');

export const dayLabel = (iso: string | null) =>
  iso ? new Date(iso).toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long' }) : '';
