// Where igdm's time goes, read from its store after a fixed run: when each measured event was
// received (HTTP thread), applied (ingest worker), its reply queued (the engine's outbox row) and
// sent. Costs igdm nothing: these times are columns it keeps anyway. igdm only (the baseline keeps
// no such record).
import { DatabaseSync } from 'node:sqlite';
import { fixed } from '../support.ts';
import type { Events, Phase } from './load.ts';
import { log } from './options.ts';
import { type Distribution, distribution } from './stats.ts';

export interface Stages {
  /** Per measured event, in whole ms (igdm's clock, Date.now): each stage's distribution. */
  postToReceived: Distribution;
  receivedToApplied: Distribution;
  appliedToQueued: Distribution;
  queuedToSandbox: Distribution;
  /** The job's end (after queueSend) − the outbox row's creation: the rest of the engine's job. */
  jobEndAfterQueued: Distribution;
}

/** The query that gives each message event's times (the same columns on SQLite and PostgreSQL). */
export const STAGES_SQL = `select e.payload, e.received_at, e.applied_at, o.created_at as queued_at, j.finished_at
         from webhook_events e
         left join outbox o on o.caused_by = e.dedup_key || '#echo'
         left join jobs j on j.dedup_key = 'engine:' || e.dedup_key
         where e.kind = 'message'`;

export interface StageRow {
  payload: string;
  received_at: number | string | null;
  applied_at: number | string | null;
  queued_at: number | string | null;
  finished_at: number | string | null;
}

/** Each stage's distribution over the phase's measured events, from STAGES_SQL's rows. */
export function stagesOf(rows: StageRow[], events: Events, phase: Phase): Stages {
  const s = {
    postToReceived: [] as number[],
    receivedToApplied: [] as number[],
    appliedToQueued: [] as number[],
    queuedToSandbox: [] as number[],
    jobEndAfterQueued: [] as number[],
  };
  for (const row of rows) {
    const match = /"text":"seq (\d+)"/.exec(row.payload);
    if (!match) continue;
    const n = Number(match[1]);
    if (n < phase.measuredFrom || n >= phase.to) continue;
    const num = (v: number | string | null) => (v === null ? Number.NaN : Number(v));
    s.postToReceived.push(num(row.received_at) - events.sentAt[n]!);
    s.receivedToApplied.push(num(row.applied_at) - num(row.received_at));
    s.appliedToQueued.push(num(row.queued_at) - num(row.applied_at));
    s.queuedToSandbox.push(events.replyAt[n]! - num(row.queued_at));
    s.jobEndAfterQueued.push(num(row.finished_at) - num(row.queued_at));
  }
  return {
    postToReceived: distribution(s.postToReceived),
    receivedToApplied: distribution(s.receivedToApplied),
    appliedToQueued: distribution(s.appliedToQueued),
    queuedToSandbox: distribution(s.queuedToSandbox),
    jobEndAfterQueued: distribution(s.jobEndAfterQueued),
  };
}

export function stages(dbPath: string, events: Events, phase: Phase): Stages | undefined {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(dbPath, { readOnly: true });
    return stagesOf(db.prepare(STAGES_SQL).all() as unknown as StageRow[], events, phase);
  } catch (error) {
    log(`stages: ${(error as Error).message}`);
    return undefined;
  } finally {
    db?.close();
  }
}

export function stageLines(s: Stages): string[] {
  const line = (name: string, d: Distribution) =>
    `  ${name.padEnd(42)} p50 ${fixed(d.p50, 0).padStart(4)}  p90 ${fixed(d.p90, 0).padStart(4)}  p99 ${fixed(d.p99, 0).padStart(5)}  max ${fixed(d.max, 0).padStart(5)} ms`;
  return [
    "Where the time goes (fixed run, whole ms, from igdm's store):",
    line('POST → received (HTTP thread)', s.postToReceived),
    line('received → applied (ingest worker)', s.receivedToApplied),
    line('applied → reply queued (queue + engine)', s.appliedToQueued),
    line('reply queued → at the Send API (sender)', s.queuedToSandbox),
    line('(reply queued → engine job finished)', s.jobEndAfterQueued),
  ];
}

/** One line for the Markdown block: each stage's p50 / p99. */
export function stagesMarkdown(st: Stages): string {
  const d = (x: Distribution) => `${fixed(x.p50, 0)} / ${fixed(x.p99, 0)}`;
  return (
    `- Where the time goes in the fixed run (p50 / p99, ms, from igdm's store): POST → received ${d(st.postToReceived)}; ` +
    `→ applied ${d(st.receivedToApplied)}; → reply queued ${d(st.appliedToQueued)}; ` +
    `→ at the Send API ${d(st.queuedToSandbox)}`
  );
}
