import type { Transaction } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { queueSend } from '../../src/engine/outbox.ts';
import { SEND_QUEUE } from '../../src/send/send-jobs.ts';
import type { Database } from '../../src/store/schema.ts';
import { Clock, type SandboxService, START, startSandboxService, until } from './support.ts';

// The engine's replies are handed to the sender of the same process as it queued them, without a
// read back from the store (src/send/queued-here.ts). What the store says still decides: a reply
// moved out of `queued` before its send (an erasure, a deleted channel), or rescheduled, goes as the
// store has it, though the sender remembers it as it was queued.

let svc: SandboxService | undefined;
afterEach(async () => {
  await svc?.stop();
  svc = undefined;
});

/**
 * A customer who wrote, and a reply to them queued as the engine queues one (remembered for this
 * process's sender), with `meanwhile` changing its row in the very transaction that queues it.
 */
async function rememberedReply(
  text: string,
  meanwhile: (trx: Transaction<Database>, outboxId: string) => Promise<unknown>,
) {
  const clock = new Clock();
  const s = await startSandboxService({ clock });
  svc = s;
  const { igsid } = await s.customer({ from: 'remembered', text: 'hi' });
  const before = (await s.outbox()).length;
  const queued = await queueSend(
    s.store.db,
    s.queue,
    s.channels.get('default')!,
    {
      to: igsid,
      content: { type: 'text', text },
      author: 'bot',
      also: (trx, q) => meanwhile(trx, q.outboxId).then(() => {}),
    },
    clock.now(),
    s.queuedHere,
  );
  const job = () =>
    s.store.db
      .selectFrom('jobs')
      .select(['status', 'result', 'runAt'])
      .where('queue', '=', SEND_QUEUE)
      .where('dedupKey', '=', `send:${queued.outboxId}`)
      .executeTakeFirst();
  return { svc: s, clock, igsid, before, queued, job };
}

it('a remembered reply that the store no longer has queued is not sent', async () => {
  // As an erasure would: the row is never queued in the store, while this process remembers it so.
  const { svc, igsid, before, queued, job } = await rememberedReply('never to be sent', (trx, id) =>
    trx.updateTable('outbox').set({ status: 'failed', error: 'erased' }).where('id', '=', id).execute(),
  );
  const done = await until(job, (j) => j?.status === 'done', 'the send job');
  expect(JSON.parse(String(done!.result))).toEqual({ status: 'failed' });
  expect(svc.queuedHere.take(queued.outboxId)).toBeUndefined(); // taken by the job's run
  expect((await svc.outbox()).length).toBe(before);
  // A reply the store has queued is sent as before.
  const sent = await svc.send({ to: igsid, content: { type: 'text', text: 'this one goes' } });
  await svc.waitMessage(sent.body.id);
  expect((await svc.outbox()).length).toBe(before + 1);
});

it('a remembered reply the store has rescheduled goes when the store says, once', async () => {
  // As a postponement over a rate cap would: still queued, due in a minute.
  const later = START + 60_000; // the service's clock stands at START
  const { svc, clock, before, queued, job } = await rememberedReply('in a minute', (trx, id) =>
    trx.updateTable('outbox').set({ nextAttemptAt: later }).where('id', '=', id).execute(),
  );
  // Its job looked, and waits for the time the store has.
  await until(job, (j) => Number(j?.runAt) > Date.now() + 30_000, 'the send job waiting');
  expect((await svc.outbox()).length).toBe(before);
  clock.set(later);
  svc.sender.wake();
  await svc.waitMessage(queued.messageId!);
  expect((await svc.outbox()).length).toBe(before + 1);
});
