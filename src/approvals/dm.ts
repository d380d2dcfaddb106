import { LIMITS } from '../meta/send.ts';

// What igdm says in an approval's thread, in seed 001's words: the approval DM (a header, the title,
// one line per field, the prompt, and two quick replies whose payloads name the approval), and the
// short replies to answers. Pure: no I/O.

export type Display = 'visible' | 'masked' | 'concealed';

export interface DmField {
  label: string;
  display: Display;
  /** A visible field's value (null shows as "—"); masked and concealed ones are never read. */
  value: string | null;
}

export const HEADER = '📋 *Approval Required*';
export const PROMPT = 'Please select an action:';
export const MASK = '••••••••';
export const APPROVE = 'HIL_APPROVE';
export const REJECT = 'HIL_REJECT';
const ELLIPSIS = '…';
/** A shortened title or value keeps at least this many bytes (the ellipsis included). */
const MIN_KEPT_BYTES = 12;

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** One line: a value's own line breaks would pass for fields of their own. */
const oneLine = (s: string) => s.replace(/\s*[\r\n\u2028\u2029\u0085]+\s*/g, ' ');

/** `s` cut to at most `max` bytes, between characters, ending with an ellipsis. */
export function cutToBytes(s: string, max: number): string {
  if (bytes(s) <= max) return s;
  let kept = '';
  let size = 0;
  const room = max - bytes(ELLIPSIS);
  for (const { segment } of graphemes.segment(s)) {
    size += bytes(segment);
    if (size > room) break;
    kept += segment;
  }
  return kept.trimEnd() + ELLIPSIS;
}

/** The approval DM's text: seed 001's layout with the title under the header. */
function layout(title: string, lines: string[]): string {
  return [`${HEADER}\n${title}\n`, ...lines, `\n${PROMPT}`].join('\n');
}

const line = (label: string, value: string) => `• ${label}: ${value}`;

export class ApprovalTooLong extends Error {}

/**
 * The DM of an approval, within Meta's 1000 bytes: when the title and the visible values do not fit,
 * the longest are shortened to a common length (an ellipsis marks each), and `shortened` names them
 * ("title", or the field's label). Throws ApprovalTooLong when the labels alone leave no room.
 */
export function approvalText(
  title: string,
  fields: readonly DmField[],
): { text: string; shortened: string[] } {
  const shown = fields.filter((f) => f.display !== 'concealed');
  const labels = shown.map((f) => oneLine(f.label));
  // What can be shortened: the title, then each visible value.
  const items = [
    { name: 'title', text: oneLine(title) },
    ...shown.flatMap((f, i) =>
      f.display === 'visible' ? [{ name: labels[i]!, index: i, text: oneLine(f.value ?? '—') }] : [],
    ),
  ];
  const build = (texts: string[]) => {
    let next = 1;
    const lines = shown.map((f, i) => line(labels[i]!, f.display === 'masked' ? MASK : texts[next++]!));
    return layout(texts[0]!, lines);
  };
  const full = build(items.map((it) => it.text));
  if (bytes(full) <= LIMITS.textBytes) return { text: full, shortened: [] };

  const fixed = bytes(build(items.map(() => '')));
  const room = LIMITS.textBytes - fixed;
  const sizes = items.map((it) => bytes(it.text));
  // The largest common cap under which everything fits (binary search over bytes).
  const fits = (cap: number) => sizes.reduce((sum, b) => sum + Math.min(b, cap), 0) <= room;
  let lo = 0;
  let hi = Math.max(...sizes);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  if (lo < MIN_KEPT_BYTES) {
    throw new ApprovalTooLong(
      `The approval DM would need ${fixed + MIN_KEPT_BYTES * items.length} bytes with every value cut short; ` +
        `Instagram allows ${LIMITS.textBytes}: use fewer fields or shorter labels`,
    );
  }
  const cut = items.map((it) => cutToBytes(it.text, lo));
  return {
    text: build(cut),
    shortened: items.filter((it, i) => cut[i] !== it.text).map((it) => it.name),
  };
}

/** The approval DM's content (SDK shape): its text, and the quick replies that answer it. */
export const approvalContent = (id: string, text: string) => ({
  type: 'text' as const,
  text,
  quickReplies: [
    { title: 'Approve ✅', payload: `${APPROVE}|${id}` },
    { title: 'Reject ❌', payload: `${REJECT}|${id}` },
  ],
});

/** An answer a payload carries: `HIL_APPROVE|<id>` or `HIL_REJECT|<id>`; null for any other payload. */
export function answerOf(payload: string | undefined): { approvalId: string; approve: boolean } | null {
  if (!payload) return null;
  const bar = payload.indexOf('|');
  if (bar < 0) return null;
  const action = payload.slice(0, bar);
  if (action !== APPROVE && action !== REJECT) return null;
  return { approvalId: payload.slice(bar + 1), approve: action === APPROVE };
}

/** A typed answer: the word alone (any case, with punctuation or the quick replies' marks). */
export function typedAnswer(text: string | undefined): boolean | null {
  const word = text
    ?.trim()
    .toLowerCase()
    .replace(/[\s.!✅❌]+$/u, '');
  if (word === 'approve' || word === 'approved') return true;
  if (word === 'reject' || word === 'rejected') return false;
  return null;
}

// ---------- igdm's replies to answers ----------

const short = (title: string) => cutToBytes(oneLine(title), 200);

export const replies = {
  decided: (approve: boolean, title: string) =>
    approve ? `✅ Approved: ${short(title)}` : `❌ Rejected: ${short(title)}`,
  notYours: () => 'Sorry, this approval was sent to someone else: only they can answer it.',
  already: (status: 'approved' | 'rejected', title: string) =>
    `This approval was already ${status}, so your answer changed nothing: ${short(title)}`,
  expired: (title: string) =>
    `Sorry, this approval has expired, so your answer was not recorded: ${short(title)}`,
  cancelled: (title: string) =>
    `This approval was cancelled, so your answer was not recorded: ${short(title)}`,
};

/** Several approvals wait for this approver: which one did they mean? One quick reply each. */
export function whichOne(approve: boolean, pending: readonly { id: string; title: string }[]) {
  const shown = pending.slice(0, LIMITS.quickReplies);
  const verb = approve ? 'approve' : 'reject';
  return {
    type: 'text' as const,
    text: `You have ${pending.length} approvals waiting. Which one do you want to ${verb}?`,
    quickReplies: shown.map((a) => ({
      title: titleOf(a.title),
      payload: `${approve ? APPROVE : REJECT}|${a.id}`,
    })),
  };
}

/** A quick reply's title: at most 20 characters (as Meta counts them: code points). */
function titleOf(title: string): string {
  const whole = oneLine(title).trim();
  if (whole === '') return '…';
  if ([...whole].length <= LIMITS.quickReplyTitle) return whole;
  let kept = '';
  let count = 0;
  for (const { segment } of graphemes.segment(whole)) {
    count += [...segment].length;
    if (count > LIMITS.quickReplyTitle - 1) break;
    kept += segment;
  }
  return `${kept.trimEnd()}…`;
}
