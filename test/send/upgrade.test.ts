import type { Kysely } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { queueSend } from '../../src/engine/outbox.ts';
import { EmbeddedQueue } from '../../src/queue/embedded.ts';
import type { Channel } from '../../src/store/channels.ts';
import { openStore } from '../../src/store/index.ts';
import { addSendJobs } from '../../src/store/migration-steps.ts';
import { closeStack, customerWrites, restartIgdm, type Stack, startStack, stopIgdm } from './stack.ts';
import { until } from './support.ts';

// Sends became jobs on the queue (migration 0008). A store written by an earlier version has outbox
// rows without jobs: after the migration, each unsettled one is sent once, in order, and the settled
// ones are left alone. (The migration itself is run on such rows: Kysely runs migrations only in
// order, and undoing every later one here would not last.)

let stack: Stack | undefined;
afterEach(async () => {
  if (stack) await closeStack(stack);
  stack = undefined;
});

it('queued rows of a store from before send jobs are sent once, in order, after the upgrade', async () => {
  stack = await startStack();
  const s = stack;
  const igsid = await customerWrites(s, 'customer from before the upgrade');
  await stopIgdm(s);

  // The outbox as an earlier version left it: three rows queued, one sent, none with a job.
  const store = await openStore(s.svc.config.databaseUrl);
  const ids: string[] = [];
  try {
    const jobs = new EmbeddedQueue(store.db);
    const channel = { id: 'default' } as Channel;
    let now = Date.now();
    for (const text of ['first', 'second', 'third', 'already sent']) {
      const q = await queueSend(
        store.db,
        jobs,
        channel,
        { to: igsid, content: { type: 'text', text } },
        now++,
      );
      ids.push(q.messageId!);
    }
    await store.db
      .updateTable('outbox')
      .set({ status: 'sent', mid: 'm_before' })
      .where('messageId', '=', ids[3]!)
      .execute();
    await store.db.deleteFrom('jobs').where('queue', '=', 'send').execute();
    // What migration 0008 does when igdm starts on such a store.
    await addSendJobs(store.db as Kysely<unknown>);
  } finally {
    await store.close();
  }

  await restartIgdm(s);
  for (const id of ids.slice(0, 3))
    await until(
      async () => (await (await s.svc.api(`/v1/messages/${id}`)).json()) as { status: string },
      (m) => m.status === 'sent',
      `${id} sent`,
    );
  const texts = s.sandbox.state.outbox
    .list()
    .filter((e) => e.answer.status === 200)
    .map((e) => (e.body as { message?: { text?: string } }).message?.text);
  expect(texts).toEqual(['first', 'second', 'third']);
  const jobs = (await (await s.svc.api('/v1/jobs?queue=send')).json()) as {
    data: { status: string; payload: { outboxId: string } }[];
  };
  expect(jobs.data.map((j) => j.status)).toEqual(['done', 'done', 'done']);
});
