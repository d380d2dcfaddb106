import { afterAll, beforeAll, expect, it } from 'vitest';
import type { OutboxEntry } from '../../../src/sandbox/index.ts';
import { messagingItem } from '../../../src/sandbox/wire.ts';
import { conversationIdOf } from '../../../src/store/ids.ts';
import { delivered, type SandboxService, sleep, until } from '../../send/support.ts';
import { type FakeLlm, startFakeLlm } from '../ai/fake-llm.ts';
import { README_CONFIG, startWithConfig } from './support.ts';

// Per-conversation order under parallel load, through HTTP: many customers write "seq 1".."seq 5"
// (the README's echo rule answers "ack seq N"), each followed by a question no rule matches (the
// AI answers it: a fake LLM, slow by a random 0-60 ms, so that a conversation's next message would
// overtake it if the queue let it). Signed webhooks are sent at the same time, several per body,
// each message delivered again in the same body and in a different batch. Every customer gets
// exactly one reply per message, in order. And a body with one customer's ten messages in shuffled
// order is answered in timestamp order.

const CUSTOMERS = 40;
const SEQS = 5;

let svc: SandboxService;
let llm: FakeLlm;

beforeAll(async () => {
  // The LLM answers "answer N" to "question N", after a random delay.
  llm = await startFakeLlm((req) => {
    const messages = req.body['messages'] as { role: string; content: string }[];
    const asked = messages.findLast((m) => m.role === 'user')?.content ?? '';
    return { text: asked.replace('question', 'answer'), delayMs: Math.floor(Math.random() * 60) };
  });
  // The README's automation file, as written; its OpenAI provider pointed at the fake.
  svc = await startWithConfig(README_CONFIG, {
    env: { OPENAI_API_KEY: 'fake-key', OPENAI_BASE_URL: `${llm.origin}/v1` },
  });
});
afterAll(async () => {
  await svc?.stop();
  await llm?.close();
});

let seed = 7;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};
const shuffle = <T>(list: T[]): T[] => {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
};

type Item = ReturnType<typeof messagingItem>;
type Body = { object: 'instagram'; entry: { id: string; time: number; messaging: Item[] }[] };

/** Groups of items in one body: as several entries, or several items in one entry. */
function bodyOf(groups: Item[][]): Body {
  const account = svc.sandbox!.options.accountId;
  const time = Date.now();
  if (random() < 0.5)
    return { object: 'instagram', entry: groups.map((g) => ({ id: account, time, messaging: g })) };
  return { object: 'instagram', entry: [{ id: account, time, messaging: groups.flat() }] };
}

/** Cuts the groups into bodies of 1 to 4 groups. */
function batches(groups: Item[][]): Body[] {
  const bodies: Body[] = [];
  for (let i = 0; i < groups.length; ) {
    const n = 1 + Math.floor(random() * 4);
    bodies.push(bodyOf(groups.slice(i, i + n)));
    i += n;
  }
  return bodies;
}

/** Delivers the bodies at the same time, signed as Meta signs them; all must be stored. */
async function deliverAll(bodies: Body[]) {
  const results = await Promise.all(bodies.map((b) => svc.sandbox!.delivery.deliver('customer', b)));
  for (const r of results) expect(r.status, JSON.stringify(r)).toBe(200);
}

let mids = 0;
function message(igsid: string, timestamp: number, text: string): Item {
  const account = svc.sandbox!.options.accountId;
  return messagingItem(igsid, account, timestamp, {
    message: { mid: `aWdfZAG1faXRlbTpvcmRlcmluZzo${++mids}x${timestamp}`, text },
  });
}

/** A customer the sandbox knows, who has written (so the Send API accepts replies to them). */
function customer(name: string): string {
  const sandbox = svc.sandbox!;
  const c = sandbox.customers.resolve(name);
  sandbox.customers.wrote(c, Date.now());
  return c.igsid;
}

const text = (e: OutboxEntry) => (e.body as { message?: { text?: string } }).message?.text;

/** The texts each customer received (successful Send API calls of messages), in the order the
 * sandbox got them. */
async function receivedBy(igsids: string[]): Promise<Map<string, string[]>> {
  const entries = delivered(await svc.outbox()).filter((e) => text(e) !== undefined);
  return new Map(igsids.map((id) => [id, entries.filter((e) => e.recipientId === id).map((e) => text(e)!)]));
}

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field in assertions
async function jobs(query: string): Promise<any> {
  const r = await svc.json(`/v1/jobs${query}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

it(`${CUSTOMERS} customers × ${SEQS} messages and questions, concurrent and redelivered: one reply each, in order`, async () => {
  const igsids = Array.from({ length: CUSTOMERS }, (_, i) => customer(`Ordering Customer ${i}`));
  const base = Date.now() - 60_000;
  // Each message once (its mid), however often it is delivered.
  const items = new Map<string, Item>();
  const item = (c: number, seq: number, question = false) => {
    const k = `${c}:${seq}:${question}`;
    if (!items.has(k))
      items.set(
        k,
        question
          ? message(igsids[c]!, base + seq * 1000 + 500 + c, `question ${seq}`)
          : message(igsids[c]!, base + seq * 1000 + c, `seq ${seq}`),
      );
    return items.get(k)!;
  };
  /** "seq N" and "question N" of each customer, in one body (in either order: Meta's timestamps decide). */
  const round = (seq: number) =>
    igsids.map((_, c) =>
      random() < 0.5 ? [item(c, seq), item(c, seq, true)] : [item(c, seq, true), item(c, seq)],
    );

  // Rounds 1 to 3: each body sent twice at once, and the same messages again in other batches.
  for (let seq = 1; seq <= 3; seq++) {
    const groups = round(seq);
    const bodies = batches(shuffle(groups));
    await deliverAll(shuffle([...bodies, ...bodies, ...batches(shuffle(groups))]));
  }
  // Rounds 4 and 5 in the same bodies.
  const groups = [4, 5].flatMap((seq) => round(seq).map((g, c) => ({ g, c })));
  const byCustomer = igsids.map((_, c) => groups.filter((x) => x.c === c).flatMap((x) => shuffle(x.g)));
  const bodies = batches(shuffle(byCustomer));
  await deliverAll(shuffle([...bodies, ...bodies, ...batches(shuffle(byCustomer))]));

  const expected = Array.from({ length: SEQS }, (_, i) => [`ack seq ${i + 1}`, `answer ${i + 1}`]).flat();
  const total = CUSTOMERS * SEQS * 2;
  await until(
    async () => [...(await receivedBy(igsids)).values()].flat().length,
    (n) => n >= total,
    `${total} replies sent`,
    30_000,
  );
  // Late redeliveries of everything change nothing.
  await deliverAll(batches(shuffle([...items.values()].map((i) => [i]))));
  await svc.sandbox!.delivery.settled();
  await svc.settled();
  await sleep(200);

  const received = await receivedBy(igsids);
  for (const [igsid, texts] of received) expect(texts, `what ${igsid} received`).toEqual(expected);
  expect([...received.values()].flat()).toHaveLength(total);
  expect(llm.received).toHaveLength(CUSTOMERS * SEQS); // each question asked once

  // Every engine job done; none dead, none waiting.
  await until(
    async () => (await jobs('?limit=1')).counts,
    (c) => c.ready === 0 && c.active === 0,
    'the jobs (and the echoes of the replies) handled',
    10_000,
  );
  const { counts } = await jobs('?limit=1');
  expect(counts.dead).toBe(0);
  expect((await jobs('?status=dead')).data).toEqual([]);
  // One job per distinct inbound message (redeliveries add none), one send job per reply, and one
  // per echo of a reply that came before Meta's answer to the send (the others are matched as they
  // are stored).
  expect(counts.done).toBeGreaterThanOrEqual(total * 2);
  expect(counts.done).toBeLessThanOrEqual(total * 3);
});

it('one body with ten messages of one customer in shuffled order: replies in timestamp order', async () => {
  const igsid = customer('Shuffled Timestamps');
  const base = Date.now() - 30_000;
  // seq 1, question 1, seq 2, question 2 ... (the questions wait for the slow LLM).
  const said = (i: number) => (i % 2 === 0 ? `seq ${i / 2 + 1}` : `question ${(i + 1) / 2}`);
  const items = Array.from({ length: 10 }, (_, i) => message(igsid, base + (i + 1) * 100, said(i)));
  const shuffled = shuffle(items);
  expect(shuffled.map((i) => (i.message as { text: string }).text)).not.toEqual(
    items.map((i) => (i.message as { text: string }).text),
  );
  const body: Body = {
    object: 'instagram',
    entry: [{ id: svc.sandbox!.options.accountId, time: Date.now(), messaging: shuffled }],
  };
  await deliverAll([body, body]); // and delivered twice at once

  await until(
    async () => (await receivedBy([igsid])).get(igsid)!,
    (texts) => texts.length >= 10,
    'ten replies',
    15_000,
  );
  await svc.settled();
  await sleep(200);
  expect((await receivedBy([igsid])).get(igsid)).toEqual(
    Array.from({ length: 10 }, (_, i) =>
      i % 2 === 0 ? `ack ${said(i)}` : said(i).replace('question', 'answer'),
    ),
  );

  // The conversation's jobs: one per message (the second delivery added none), run in Meta's order.
  const list = (await jobs(`?queue=engine&conversationId=${conversationIdOf('default', igsid)}&limit=200`))
    .data as {
    id: number;
    status: string;
    attempts: number;
    orderAt: string;
    finishedAt: string;
    result: { kind: string; echo?: string }[];
  }[];
  const inbound = list.filter((j) => j.result.some((o) => o.kind === 'message' && !o.echo));
  expect(inbound).toHaveLength(10);
  const byOrder = [...inbound].sort((a, b) => a.orderAt.localeCompare(b.orderAt));
  expect(byOrder.map((j) => j.id)).toEqual([...inbound].map((j) => j.id).sort((a, b) => a - b));
  for (let i = 1; i < byOrder.length; i++)
    expect(byOrder[i]!.finishedAt >= byOrder[i - 1]!.finishedAt).toBe(true);
  for (const j of inbound) expect(j).toMatchObject({ status: 'done', attempts: 1 });
});
