import type { DatabaseSync } from 'node:sqlite';
import { builder } from '../store/builder.ts';
import { param as p, prepare } from '../store/prepared.ts';
import type { NewJob } from './queue.ts';

// The embedded queue's enqueue port for a thread with a connection of its own (the projector), kept
// apart from the queue (embedded.ts) so that such a thread loads little.

/**
 * The enqueue port on a connection of the caller's own (the projector's, which writes through
 * prepared statements): adds a job inside the transaction open on it. True when it was new.
 */
export function enqueueOn(sqlite: DatabaseSync) {
  const db = builder;
  const insert = prepare<{
    queue: string;
    key: string;
    orderAt: number;
    dedupKey: string;
    payload: string;
    now: number;
  }>(
    sqlite,
    db
      .insertInto('jobs')
      .values({
        queue: p('queue'),
        key: p('key'),
        orderAt: p('orderAt'),
        dedupKey: p('dedupKey'),
        payload: p('payload'),
        status: 'ready',
        attempts: 0,
        runAt: p('now'),
        lockedUntil: null,
        error: null,
        result: null,
        createdAt: p('now'),
        updatedAt: p('now'),
        finishedAt: null,
      })
      .onConflict((oc) => oc.column('dedupKey').doNothing()),
  );
  return (job: NewJob, now = Date.now()): boolean =>
    insert.run({ ...job, payload: JSON.stringify(job.payload), now }).changes > 0;
}
