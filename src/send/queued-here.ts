import type { Row } from './attempt.ts';

// The sends this process queued a moment ago, as it wrote them: most send jobs run in the process
// whose engine queued them (its own wake claims them), so the first run of such a job here takes its
// row from here rather than reading it back from the store, a round trip on PostgreSQL. The store
// still decides: the claim of a remembered row holds only while the row is queued and as it was
// queued, never attempted nor rescheduled (Outcomes.claim); else the job reads the store and goes on
// from there. The conversation's last inbound time may have moved on since (only later, so the window
// only grew): a send the remembered time refuses is read again before it is refused.

/** More than this many and the oldest are forgotten (read from the store instead). */
const MAX_ROWS = 1000;
/** Older than this, a row is read from the store: the job ran late, so much may have happened. */
const MAX_AGE_MS = 10_000;

export class QueuedHere {
  readonly #rows = new Map<string, { row: Row; at: number }>();

  remember(row: Row): void {
    this.#rows.set(row.id, { row, at: performance.now() });
    if (this.#rows.size > MAX_ROWS) this.#rows.delete(this.#rows.keys().next().value!);
  }

  /** The row as it was queued, once: a later run of its job reads the store. */
  take(id: string): Row | undefined {
    const kept = this.#rows.get(id);
    if (!kept) return undefined;
    this.#rows.delete(id);
    return performance.now() - kept.at <= MAX_AGE_MS ? { ...kept.row, remembered: true } : undefined;
  }
}
