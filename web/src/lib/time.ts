// Times as a list and a thread show them.

const hm = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayMonth = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** "10:42" today, "3 Dec" before. */
export function shortTime(iso: string | null, now = Date.now()): string {
  if (!iso) return '';
  const t = new Date(iso);
  return new Date(now).toDateString() === t.toDateString() ? hm.format(t) : dayMonth.format(t);
}

export const fullTime = (iso: string | null) => (iso ? full.format(new Date(iso)) : '');

export const dayLabel = (iso: string | null) =>
  iso ? new Date(iso).toLocaleDateString(undefined, { weekday: 'long', day: 'numeric', month: 'long' }) : '';
