// What a backfill may set off. A message read back from the Conversations API (its webhook was
// missed) gets automation only while it is fresh: one a scheduled run finds minutes after it was
// written is answered as a webhook would have been; one from an outage an hour ago is stored and
// shown, flagged backfilled, but no bot answers it (the customer may have given up or written again,
// and past Meta's 24 h window a reply would be refused anyway).

/** A backfilled message older than this (by Meta's time) gets no automated reply. */
export const BACKFILLED_REPLY_MAX_AGE_MS = 5 * 60 * 1000;
