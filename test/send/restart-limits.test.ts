import { afterEach, expect, it } from 'vitest';
import { queueSend } from '../../src/engine/outbox.ts';
import { EmbeddedQueue } from '../../src/queue/embedded.ts';
import type { Channel } from '../../src/store/channels.ts';
import { openStore } from '../../src/store/index.ts';
import { closeStack, customerWrites, restartIgdm, type Stack, startStack, stopIgdm } from './stack.ts';
import { until } from './support.ts';

// Meta's rate windows do not restart with igdm: the sends an earlier process made still count after
// a restart, and a per-second throttle (Meta's estimate: 0 minutes) holds the sends for a second,
// not for the minutes a full hourly allowance would call for.

let stack: Stack | undefined;
afterEach(async () => {
  if (stack) await closeStack(stack);
  stack = undefined;
});

const start = async (opts?: Parameters<typeof startStack>[0]) => (stack = await startStack(opts));

const DAY = 24 * 60 * 60_000;

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
async function send(s: Stack, to: string, text: string): Promise<any> {
  const res = await s.svc.api('/v1/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ to, content: { type: 'text', text } }),
  });
  expect(res.status).toBe(202);
  return res.json();
}

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
const message = async (s: Stack, id: string): Promise<any> => (await s.svc.api(`/v1/messages/${id}`)).json();

const textsAtMeta = (s: Stack) =>
  s.sandbox.state.outbox
    .list()
    .filter((e) => e.answer.status === 200)
    .map((e) => (e.body as { message?: { text?: string } }).message?.text);

it('a per-recipient daily cap still holds after a restart', async () => {
  const s = await start({ env: { IGDM_RATE_PER_RECIPIENT_PER_DAY: '1' } });
  const ana = await customerWrites(s, 'capped ana');
  const bea = await customerWrites(s, 'bea');
  const a1 = await send(s, ana, 'A1');
  await until(
    () => message(s, a1.id),
    (m) => m.status === 'sent',
    'A1 sent',
  );
  const outboxRow = (id: string) =>
    s.svc.store.db.selectFrom('outbox').selectAll().where('messageId', '=', id).executeTakeFirstOrThrow();
  const sentA1 = Number((await outboxRow(a1.id)).sentAt);
  await stopIgdm(s);
  await restartIgdm(s);

  const a2 = await send(s, ana, 'A2 (over the cap)');
  const b1 = await send(s, bea, 'B1');
  await until(
    () => message(s, b1.id),
    (m) => m.status === 'sent',
    'B1 sent',
  );
  expect(await message(s, a2.id)).toMatchObject({ status: 'queued' });
  const row = await until(
    () =>
      s.svc.store.db
        .selectFrom('outbox')
        .selectAll()
        .where('messageId', '=', a2.id)
        .executeTakeFirstOrThrow(),
    (r) => Number(r.nextAttemptAt) > Date.now() + 60_000,
    'A2 put off',
  );
  // Its turn comes a day after A1 (sent by the earlier process): counted from Meta's answer, which
  // comes a moment before A1's row is marked sent (on PostgreSQL the windows keep the answer's time).
  expect(Number(row.nextAttemptAt)).toBeGreaterThanOrEqual(sentA1 + DAY - 100);
  expect(textsAtMeta(s)).toEqual(['A1', 'B1']);
});

it('a per-second throttle from Meta holds the sends for a second, and every message goes once', async () => {
  // igdm allows itself 100 calls/s; this Meta takes 2.
  const s = await start({ sendRatePerSecond: 2 });
  const customers: string[] = [];
  // Ten, so that Meta throttles them even when a busy machine spreads igdm's first sends over seconds.
  for (let i = 0; i < 10; i++) customers.push(await customerWrites(s, `burst customer ${i}`));
  // Queued while igdm is down, so that they go out together when it starts.
  await stopIgdm(s);
  const store = await openStore(s.svc.config.databaseUrl);
  const ids: string[] = [];
  try {
    for (const [i, to] of customers.entries()) {
      const q = await queueSend(store.db, new EmbeddedQueue(store.db), { id: 'default' } as Channel, {
        to,
        content: { type: 'text', text: `burst ${i}` },
      });
      ids.push(q.messageId!);
    }
  } finally {
    await store.close();
  }
  await restartIgdm(s);

  // Held for minutes after a throttle (as a full hourly allowance would call for), these would not
  // all be sent within the 15 s.
  for (const id of ids)
    await until(
      () => message(s, id),
      (m) => m.status === 'sent',
      `${id} sent`,
      15_000,
    );
  const refused = s.sandbox.state.outbox.list().filter((e) => e.answer.status !== 200);
  expect(refused.length).toBeGreaterThan(0); // Meta did throttle igdm
  expect(textsAtMeta(s).sort()).toEqual(customers.map((_, i) => `burst ${i}`).sort());
});
