import { afterEach, expect, it } from 'vitest';
import { queueSend } from '../../src/engine/outbox.ts';
import { SEND_QUEUE } from '../../src/send/send-jobs.ts';
import { Clock, type SandboxService, startSandboxService, until } from './support.ts';

// The engine's replies are handed to the sender of the same process as it queued them, without a
// read back from the store (src/send/queued-here.ts). What the store says still decides: a reply
// moved out of `queued` before its send (an erasure, a deleted channel) is never sent, though the
// sender remembers it queued.

let svc: SandboxService | undefined;
afterEach(async () => {
  await svc?.stop();
  svc = undefined;
});

it('a remembered reply that the store no longer has queued is not sent', async () => {
  const clock = new Clock();
  svc = await startSandboxService({ clock });
  const { igsid } = await svc.customer({ from: 'remembered', text: 'hi' });
  const channel = svc.channels.get('default')!;
  const before = (await svc.outbox()).length;
  // As an erasure would, in the very transaction that queues it: the row is never queued in the
  // store, while this process remembers it as queued.
  const queued = await queueSend(
    svc.store.db,
    svc.queue,
    channel,
    {
      to: igsid,
      content: { type: 'text', text: 'never to be sent' },
      author: 'bot',
      also: async (trx, { outboxId }) => {
        await trx
          .updateTable('outbox')
          .set({ status: 'failed', error: 'erased' })
          .where('id', '=', outboxId)
          .execute();
      },
    },
    clock.now(),
    svc.queuedHere,
  );
  const job = await until(
    () =>
      svc!.store.db
        .selectFrom('jobs')
        .select(['status', 'result'])
        .where('queue', '=', SEND_QUEUE)
        .where('dedupKey', '=', `send:${queued.outboxId}`)
        .executeTakeFirst(),
    (j) => j?.status === 'done',
    'the send job',
  );
  expect(JSON.parse(String(job!.result))).toEqual({ status: 'failed' });
  expect(svc.queuedHere.take(queued.outboxId)).toBeUndefined(); // taken by the job's run
  expect((await svc.outbox()).length).toBe(before);
  // A reply the store has queued is sent as before.
  const sent = await svc.send({ to: igsid, content: { type: 'text', text: 'this one goes' } });
  await svc.waitMessage(sent.body.id);
  expect((await svc.outbox()).length).toBe(before + 1);
});

it('a remembered reply the store has rescheduled goes when the store says, once', async () => {
  const clock = new Clock();
  svc = await startSandboxService({ clock });
  const { igsid } = await svc.customer({ from: 'rescheduled', text: 'hi' });
  const channel = svc.channels.get('default')!;
  const before = (await svc.outbox()).length;
  const later = clock.now() + 60_000;
  // As a postponement over a rate cap would: still queued, due in a minute.
  const queued = await queueSend(
    svc.store.db,
    svc.queue,
    channel,
    {
      to: igsid,
      content: { type: 'text', text: 'in a minute' },
      author: 'bot',
      also: async (trx, { outboxId }) => {
        await trx.updateTable('outbox').set({ nextAttemptAt: later }).where('id', '=', outboxId).execute();
      },
    },
    clock.now(),
    svc.queuedHere,
  );
  // Its job looked, and waits for the time the store has.
  await until(
    () =>
      svc!.store.db
        .selectFrom('jobs')
        .select('runAt')
        .where('dedupKey', '=', `send:${queued.outboxId}`)
        .executeTakeFirst(),
    (j) => Number(j?.runAt) > Date.now() + 30_000,
    'the send job waiting',
  );
  expect((await svc.outbox()).length).toBe(before);
  clock.advance(60_000);
  svc.sender.wake();
  await svc.waitMessage(queued.messageId!);
  expect((await svc.outbox()).length).toBe(before + 1);
});
