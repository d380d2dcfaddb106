import { sql } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { queueSend } from '../../src/engine/outbox.ts';
import { EmbeddedQueue } from '../../src/queue/embedded.ts';
import type { Channel } from '../../src/store/channels.ts';
import { openStore } from '../../src/store/index.ts';
import { allMessages, conversationOf } from '../support/conversations.ts';
import { ACCOUNT_ID, type TestService } from '../support/service.ts';
import { closeStack, customerWrites, restartIgdm, type Stack, startStack, stopIgdm, TOKEN } from './stack.ts';
import { sleep, until } from './support.ts';

// Sends interrupted by a crash, settled by Meta's echo. The crash is written into the store while
// igdm is down: an outbox row left `sending` (claimed, attempt 1), which the standalone sandbox
// either did get (the test sends its body to the sandbox's Graph API itself, so the sandbox sends
// the echo) or never got. The restarted igdm must not show the customer a reply twice, nor lose one.

let stack: Stack | undefined;

afterEach(async () => {
  if (stack) await closeStack(stack);
  stack = undefined;
});

const start = async (opts?: Parameters<typeof startStack>[0]) => (stack = await startStack(opts));
const stop = stopIgdm;
const restart = restartIgdm;
const customer = customerWrites;

interface Crashed {
  messageId: string;
  outboxId: string;
  body: string;
}

/**
 * Rows written into the store of a stopped igdm, oldest first: each queued as the API does, then
 * left `sending` (claimed, attempt 1) unless `queued`.
 */
async function crashState(
  s: Stack,
  rows: { to: string; text?: string; typing?: boolean; queued?: boolean }[],
): Promise<Crashed[]> {
  const store = await openStore(s.svc.config.databaseUrl);
  try {
    const channel = { id: 'default' } as Channel;
    const out: Crashed[] = [];
    let now = Date.now();
    for (const r of rows) {
      now++; // (createdAt, id) order is the order given
      const content = r.typing ? { type: 'typing' } : { type: 'text', text: r.text };
      const q = await queueSend(store.db, new EmbeddedQueue(store.db), channel, { to: r.to, content }, now);
      if (!r.queued) {
        await store.db
          .updateTable('outbox')
          .set({ status: 'sending', attempts: 1, updatedAt: now })
          .where('id', '=', q.outboxId)
          .execute();
      }
      const row = await store.db
        .selectFrom('outbox')
        .select('body')
        .where('id', '=', q.outboxId)
        .executeTakeFirstOrThrow();
      out.push({ messageId: q.messageId ?? q.outboxId, outboxId: q.outboxId, body: row.body });
    }
    return out;
  } finally {
    await store.close();
  }
}

/** What Meta got before igdm died: the body, sent to the sandbox's Send API directly. Returns the mid. */
async function metaGot(s: Stack, body: string): Promise<string> {
  const res = await fetch(`${s.sandbox.graphApiUrl}/v24.0/${ACCOUNT_ID}/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body,
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { message_id: string }).message_id;
}

const delivered = (s: Stack) => s.sandbox.state.outbox.list().filter((e) => e.answer.status === 200);
const textsDelivered = (s: Stack) =>
  delivered(s).map((e) => (e.body as { message?: { text?: string } }).message?.text ?? '(action)');

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
async function message(svc: TestService, id: string): Promise<any> {
  return (await svc.api(`/v1/messages/${id}`)).json();
}

async function outboxRow(svc: TestService, id: string) {
  return svc.store.db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/** Meta's echoes wait until the returned function is called (after a restart, however long it takes). */
function holdEchoes(s: Stack): () => void {
  const delivery = s.sandbox.state.delivery;
  const deliver = delivery.deliver.bind(delivery);
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  delivery.deliver = async (kind, body) => {
    if (kind === 'echo') await gate;
    return deliver(kind, body);
  };
  return release;
}

/** The row once its job has looked at it after the restart (a row left `sending` waits for its echo). */
const unconfirmed = (svc: TestService, id: string) =>
  until(
    () => outboxRow(svc, id),
    (o) => o.status !== 'sending',
    'looked at after the restart',
  );

async function outbound(svc: TestService, igsid: string) {
  await stack!.sandbox.state.delivery.settled();
  await svc.settled();
  const conversation = await conversationOf(svc, igsid);
  return (await allMessages(svc, conversation!.id)).filter((m) => m.direction === 'outbound');
}

it('(a) Meta got it and its echo was stored before the restart: sent once, with the mid, one message', async () => {
  const s = await start();
  const igsid = await customer(s, 'echoed customer');
  // Meta got the send; its echo reached igdm, which kept it as a message of its own.
  const body = {
    recipient: { id: igsid },
    messaging_type: 'RESPONSE',
    message: { text: 'Your order shipped' },
  };
  const mid = await metaGot(s, JSON.stringify(body));
  await s.sandbox.state.delivery.settled();
  expect(await outbound(s.svc, igsid)).toEqual([expect.objectContaining({ mid, isEcho: true })]);
  // ... and igdm died before recording the answer.
  await stop(s);
  const [row] = await crashState(s, [{ to: igsid, text: 'Your order shipped' }]);
  expect(JSON.parse(row!.body)).toEqual(body);
  await restart(s);

  const sent = await until(
    () => message(s.svc, row!.messageId),
    (m) => m.status === 'sent',
    'settled by the echo',
  );
  expect(sent).toMatchObject({ status: 'sent', mid, isEcho: true, text: 'Your order shipped' });
  expect(await outboxRow(s.svc, row!.outboxId)).toMatchObject({ status: 'sent', mid, attempts: 1 });
  expect(await outbound(s.svc, igsid)).toEqual([
    expect.objectContaining({ id: row!.messageId, mid, isEcho: true, status: 'sent' }),
  ]);
  await sleep(300);
  expect(delivered(s)).toHaveLength(1); // the customer got it once
});

it('(a) the echo arrives after the restart: settled as soon as it is applied, long before the grace ends', async () => {
  const s = await start();
  const igsid = await customer(s, 'late echo customer');
  await stop(s);
  const [row] = await crashState(s, [{ to: igsid, text: 'We open at 9' }]);
  const echoes = holdEchoes(s); // the echo comes once igdm is back
  const mid = await metaGot(s, row!.body); // igdm is down; Meta answered, the echo follows
  const started = Date.now();
  await restart(s);
  // Its job finds it claimed by the process that died: it waits for its echo.
  expect(await unconfirmed(s.svc, row!.outboxId)).toMatchObject({ status: 'unconfirmed', attempts: 1 });
  echoes();

  const sent = await until(
    () => message(s.svc, row!.messageId),
    (m) => m.status === 'sent',
    'settled by the echo',
    12_000,
  );
  expect(Date.now() - started).toBeLessThan(15_000); // the grace is 20 s
  expect(sent).toMatchObject({ mid, isEcho: true });
  expect(await outbound(s.svc, igsid)).toEqual([expect.objectContaining({ id: row!.messageId, mid })]);
  expect(delivered(s)).toHaveLength(1);
});

it('(b) Meta never got it: no echo, so it is sent again once the grace has passed, once', async () => {
  const s = await start({ env: { IGDM_ECHO_GRACE_MS: '500' } });
  const igsid = await customer(s, 'unlucky customer');
  await stop(s);
  const [row] = await crashState(s, [{ to: igsid, text: 'Sorry for the wait' }]);
  const started = Date.now();
  await restart(s);
  expect(await unconfirmed(s.svc, row!.outboxId)).toMatchObject({ status: 'unconfirmed' });
  await sleep(250);
  expect(delivered(s)).toEqual([]); // still waiting for an echo

  const sent = await until(
    () => message(s.svc, row!.messageId),
    (m) => m.status === 'sent',
    'sent after the grace',
  );
  expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  const calls = delivered(s);
  expect(calls).toHaveLength(1);
  expect(sent).toMatchObject({ mid: calls[0]!.messageId });
  expect(await outboxRow(s.svc, row!.outboxId)).toMatchObject({ status: 'sent', attempts: 2 });
  expect(await outbound(s.svc, igsid)).toEqual([
    expect.objectContaining({ id: row!.messageId, isEcho: true, status: 'sent' }),
  ]);
});

it('(b) and Meta cannot be asked (its Conversations API fails): sent again, once, rather than lost', async () => {
  const s = await start({ env: { IGDM_ECHO_GRACE_MS: '500' } });
  const igsid = await customer(s, 'unasked customer');
  await stop(s);
  const [row] = await crashState(s, [{ to: igsid, text: 'Anything else?' }]);
  const failing = await fetch(`${s.sandbox.url}/sandbox/failures`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ kind: '5xx', path: 'conversations', count: 3 }), // every try
  });
  expect(failing.status).toBe(201);
  await restart(s);

  await until(
    () => message(s.svc, row!.messageId),
    (m) => m.status === 'sent',
    'sent again after the grace',
  );
  const asked = s.sandbox.state.calls.list().filter((c) => c.edge === 'conversations');
  expect(asked.map((c) => c.status)).toEqual([500, 500, 500]);
  expect(textsDelivered(s)).toEqual(['Anything else?']);
});

it('(d) Meta got it but its echo is late (past the grace): the Conversations API finds it; not sent again', async () => {
  const s = await start({ env: { IGDM_ECHO_GRACE_MS: '500' } });
  const igsid = await customer(s, 'echo lost customer');
  await stop(s);
  // Meta could not deliver the echo (igdm was down): it will retry, but only much later.
  const lost: unknown[] = [];
  const delivery = s.sandbox.state.delivery;
  const deliver = delivery.deliver.bind(delivery);
  delivery.deliver = async (kind, body) => {
    const r = await deliver(kind, body);
    if (kind === 'echo' && r.status !== 200) lost.push(body);
    return r;
  };
  const [row] = await crashState(s, [{ to: igsid, text: 'Your order has shipped' }]);
  const mid = await metaGot(s, row!.body);
  await delivery.settled();
  expect(lost).toHaveLength(1);
  await restart(s);

  const sent = await until(
    () => message(s.svc, row!.messageId),
    (m) => m.status === 'sent',
    'found at Meta after the grace',
  );
  expect(sent).toMatchObject({ mid });
  expect(await outboxRow(s.svc, row!.outboxId)).toMatchObject({ status: 'sent', mid, attempts: 1 });
  await sleep(300);
  expect(delivered(s)).toHaveLength(1); // the customer got it once: no second send
  // Meta's retry of the echo, at last: it completes the same message, no second one.
  for (const body of lost) expect((await deliver('echo', body)).status).toBe(200);
  const shown = await until(
    () => outbound(s.svc, igsid),
    (m) => m.length === 1 && m[0]!.isEcho === true,
    'the late echo merged',
  );
  expect(shown).toEqual([expect.objectContaining({ id: row!.messageId, mid, status: 'sent' })]);
});

it('(d) three such sends: all found, none sent again, and Meta never asked more than 2 times a second', async () => {
  const s = await start({ env: { IGDM_ECHO_GRACE_MS: '300' } });
  const customers: string[] = [];
  for (const name of ['ana', 'bea', 'cem']) customers.push(await customer(s, `${name} lost echo`));
  await stop(s); // the echoes of what Meta gets now are not delivered
  const rows = await crashState(
    s,
    customers.map((to, i) => ({ to, text: `Shipped, order ${i}` })),
  );
  const mids: string[] = [];
  for (const row of rows) mids.push(await metaGot(s, row.body));
  await s.sandbox.state.delivery.settled();
  const since = Date.now();
  await restart(s);

  for (const [i, row] of rows.entries())
    await until(
      () => message(s.svc, row.messageId),
      (m) => m.status === 'sent' && m.mid === mids[i],
      `row ${i} found at Meta`,
      15_000,
    );
  expect(delivered(s)).toHaveLength(3); // metaGot's three: nothing sent again
  const asked = s.sandbox.state.calls
    .list()
    // The Conversations API: the list, then the conversation's node (aWdf…) and a message's.
    .filter(
      (c) =>
        c.time >= since &&
        (c.edge === 'conversations' ||
          c.path.includes('/aWdf') ||
          mids.some((mid) => c.path.includes(encodeURIComponent(mid)))),
    );
  expect(asked.length).toBeGreaterThanOrEqual(9); // a list, the messages and one message, per row
  expect(asked.filter((c) => c.status !== 200)).toEqual([]); // never throttled
});

it('(c) a later row to the same customer waits behind the unconfirmed one; another customer does not', async () => {
  const s = await start({ env: { IGDM_ECHO_GRACE_MS: '800' } });
  const ana = await customer(s, 'ana waits');
  const bea = await customer(s, 'bea does not');
  await stop(s);
  const [first, second, other] = await crashState(s, [
    { to: ana, text: 'first' },
    { to: ana, text: 'second', queued: true },
    { to: bea, text: 'for bea', queued: true },
  ]);
  await restart(s);
  await until(
    () => textsDelivered(s),
    (t) => t.includes('for bea'),
    'the other customer served at once',
  );
  await sleep(300);
  expect(textsDelivered(s)).toEqual(['for bea']);
  expect(await outboxRow(s.svc, second!.outboxId)).toMatchObject({ status: 'queued', attempts: 0 });

  await until(
    () => textsDelivered(s),
    (t) => t.length === 3,
    'both of ana’s sent after the grace',
  );
  expect(textsDelivered(s)).toEqual(['for bea', 'first', 'second']);
  for (const r of [first, second, other]) {
    expect(
      await until(
        () => message(s.svc, r!.messageId),
        (m) => m.status === 'sent',
        'sent',
      ),
    ).toMatchObject({
      status: 'sent',
    });
  }
});

it('(c) the row behind an unconfirmed one goes as soon as the echo settles it', async () => {
  const s = await start(); // the grace is 20 s
  const igsid = await customer(s, 'patient customer');
  await stop(s);
  const [first, second] = await crashState(s, [
    { to: igsid, text: 'one' },
    { to: igsid, text: 'two', queued: true },
  ]);
  const echoes = holdEchoes(s); // after the restart
  const mid = await metaGot(s, first!.body);
  const started = Date.now();
  await restart(s);
  await sleep(300);
  expect(textsDelivered(s)).toEqual(['one']); // only Meta's copy of the first
  echoes();

  const sent = await until(
    () => message(s.svc, second!.messageId),
    (m) => m.status === 'sent',
    'the second sent',
    12_000,
  );
  expect(Date.now() - started).toBeLessThan(15_000);
  expect(textsDelivered(s)).toEqual(['one', 'two']);
  expect(await message(s.svc, first!.messageId)).toMatchObject({ status: 'sent', mid });
  expect(sent.mid).toBe(delivered(s)[1]!.messageId);
});

it('a sender action left sending has no echo: it is sent again at once', async () => {
  const s = await start(); // grace 20 s
  const igsid = await customer(s, 'typing customer');
  await stop(s);
  const [typing] = await crashState(s, [{ to: igsid, typing: true }]);
  await restart(s);
  const row = await until(
    () => outboxRow(s.svc, typing!.outboxId),
    (r) => r.status === 'sent',
    'typing sent',
    3000,
  );
  expect(row.attempts).toBe(2);
  expect(delivered(s).map((e) => e.body)).toEqual([{ recipient: { id: igsid }, sender_action: 'typing_on' }]);
});

it('a send whose outcome cannot be recorded waits for its echo too, and its customer’s next reply behind it', async () => {
  const s = await start();
  const igsid = await customer(s, 'unrecorded customer');
  const echoes = holdEchoes(s);
  // The store refuses to record this one message as sent (the disk is full, say).
  const db = s.svc.store.db;
  if (s.svc.store.kind === 'sqlite')
    await sql`create trigger refuse_boom before update of mid on messages
      when new.mid is not null and new.text = 'boom'
      begin select raise(abort, 'the disk is full'); end`.execute(db);
  else {
    await sql`create function refuse_boom() returns trigger language plpgsql as $$
      begin raise exception 'the disk is full' using errcode = 'disk_full'; end $$`.execute(db);
    await sql`create trigger refuse_boom before update of mid on messages for each row
      when (new.mid is not null and new.text = 'boom') execute function refuse_boom()`.execute(db);
  }
  const send = async (text: string) => {
    const res = await s.svc.api('/v1/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: igsid, content: { type: 'text', text } }),
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };
  const boom = await send('boom');
  const row = await until(
    () =>
      s.svc.store.db.selectFrom('outbox').selectAll().where('messageId', '=', boom).executeTakeFirstOrThrow(),
    (r) => r.status !== 'queued' && r.status !== 'sending',
    'the send is unconfirmed',
  );
  expect(row).toMatchObject({ status: 'unconfirmed', attempts: 1, mid: null });
  expect(textsDelivered(s)).toEqual(['boom']); // Meta got it
  const next = await send('after boom');
  if (s.svc.store.kind === 'sqlite') await sql`drop trigger refuse_boom`.execute(db);
  else await sql`drop trigger refuse_boom on messages`.execute(db);
  await sleep(200);
  expect(textsDelivered(s)).toEqual(['boom']); // the next waits behind the unconfirmed one
  echoes();

  // The echo comes, settles it, and the next reply goes.
  const sent = await until(
    () => message(s.svc, next),
    (m) => m.status === 'sent',
    'the next reply sent',
  );
  expect(textsDelivered(s)).toEqual(['boom', 'after boom']);
  const [first, second] = delivered(s);
  expect(await message(s.svc, boom)).toMatchObject({ status: 'sent', mid: first!.messageId, isEcho: true });
  expect(sent.mid).toBe(second!.messageId);
});
