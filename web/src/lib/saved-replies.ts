import type { SavedReply } from '@igdm/sdk';

// Saved replies in the composer: typing `#` and the start of a shortcut (at the start of the text or
// after a space) offers the team's replies; picking one puts its text in place of `#shortcut`.

export interface HashQuery {
  /** Where the `#` is. */
  start: number;
  /** What follows it, up to the caret (lower case). */
  query: string;
}

/** The `#shortcut` being typed just before the caret, if any. */
export function hashQuery(text: string, caret: number): HashQuery | null {
  const before = text.slice(0, caret);
  const match = /(^|\s)#([a-z0-9_-]{0,32})$/i.exec(before);
  if (!match) return null;
  return { start: before.length - match[2]!.length - 1, query: match[2]!.toLowerCase() };
}

/** The replies whose shortcut starts with the query, then those that contain it. */
export function matching(replies: readonly SavedReply[], query: string): SavedReply[] {
  const starts = replies.filter((r) => r.shortcut.startsWith(query));
  const contains = replies.filter((r) => !r.shortcut.startsWith(query) && r.shortcut.includes(query));
  return [...starts, ...contains];
}

/** The text with the reply in place of `#query`, and where the caret goes. */
export function applyReply(
  text: string,
  at: HashQuery,
  caret: number,
  reply: string,
): { text: string; caret: number } {
  const next = text.slice(0, at.start) + reply + text.slice(caret);
  return { text: next, caret: at.start + reply.length };
}
