// The event stream's subscribers, in a process of their own (forked by stream.ts): N clients of
// GET /v1/events (Server-Sent Events over node:http), each noting when every event arrived. The
// runner tells it when the webhooks were sent; it answers with the lags and, per subscriber, what
// was missing, duplicated or out of order.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { latency } from './stats.ts';

interface Start {
  port: number;
  count: number;
  apiKey: string;
}
type FromRunner = { type: 'progress' } | { type: 'stop'; sent: (number | null)[]; from: number; to: number };

const { port, count, apiKey } = JSON.parse(process.argv[2]!) as Start;
const send = (msg: unknown) => process.send!(msg);
const clock = () => performance.timeOrigin + performance.now();
const CREATED = '"createdAt":"';
const MID = '"mid":"';

class Subscriber {
  /** Every event's id, in the order received. */
  readonly ids: number[] = [];
  /** Per message.received of the benchmark: its sequence number, arrival and createdAt (epoch ms). */
  readonly seqs: number[] = [];
  readonly arrivals: number[] = [];
  readonly created: number[] = [];
  /** The benchmark's messages it has had (by sequence number), and how many (each once). */
  readonly #had: boolean[] = [];
  distinct = 0;
  outOfOrder = 0;
  #buffer = '';
  #last = 0;
  ready = false;
  closed = false;

  constructor(onReady: () => void) {
    const req = http.get(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/events',
        headers: { authorization: `Bearer ${apiKey}`, accept: 'text/event-stream' },
      },
      (res) => {
        if (res.statusCode !== 200) throw new Error(`GET /v1/events answered ${res.statusCode}`);
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => this.#receive(chunk, clock()));
        res.on('close', () => {
          this.closed = true;
        });
        this.ready = true;
        onReady();
      },
    );
    req.on('error', (err) => {
      this.closed = true;
      send({ type: 'error', message: err.message });
    });
  }

  #receive(chunk: string, at: number) {
    const text = this.#buffer + chunk;
    let start = 0;
    for (let end = text.indexOf('\n\n'); end >= 0; start = end + 2, end = text.indexOf('\n\n', start)) {
      if (!text.startsWith('id: ', start)) continue; // retry:, heartbeats
      const frame = text.slice(start, end);
      const id = Number(frame.slice(4, frame.indexOf('\n')));
      if (id <= this.#last) this.outOfOrder++;
      this.#last = id;
      this.ids.push(id);
      const known = parsed.has(id) ? parsed.get(id)! : parse(id, frame);
      if (known === null) continue;
      this.seqs.push(known.seq);
      if (!this.#had[known.seq]) {
        this.#had[known.seq] = true;
        this.distinct++;
      }
      this.arrivals.push(at);
      this.created.push(known.created);
    }
    this.#buffer = text.slice(start);
  }
}

/**
 * Per event id: the benchmark's message it is about and its createdAt, or null for another event.
 * Read from the first subscriber's frame only: every subscriber gets the same one, and this process
 * shares the machine with igdm.
 */
const parsed = new Map<number, { seq: number; created: number } | null>();
function parse(id: number, frame: string) {
  let found: { seq: number; created: number } | null = null;
  if (frame.includes('\nevent: message.received\n')) {
    const c = frame.indexOf(CREATED) + CREATED.length;
    const m = frame.indexOf(MID) + MID.length;
    const mid = Buffer.from(frame.slice(m, frame.indexOf('"', m)), 'base64url').toString('latin1');
    const seq = /:stream-(\d+)$/.exec(mid);
    if (seq) found = { seq: Number(seq[1]), created: Date.parse(frame.slice(c, c + 24)) };
  }
  parsed.set(id, found);
  return found;
}

let ready = 0;
const subscribers: Subscriber[] = [];
for (let i = 0; i < count; i++)
  subscribers.push(
    new Subscriber(() => {
      if (++ready === count) send({ type: 'ready' });
    }),
  );

process.on('message', (msg: FromRunner) => {
  if (msg.type === 'progress') {
    // Counted as they arrive: a count made here (a set of every subscriber's 10 000s of messages)
    // stopped this process for 100s of ms, and the events arriving meanwhile looked that late.
    send({ type: 'progress', least: Math.min(...subscribers.map((s) => s.distinct)) });
    return;
  }
  if (process.env['BENCH_API_TRACE']) trace(process.env['BENCH_API_TRACE'], msg.sent);
  send({ type: 'result', ...results(msg.sent, msg.from, msg.to) });
  setImmediate(() => process.exit(0));
});

/** Per message: when it was posted, created, and the first and last subscriber's arrival. */
function trace(file: string, sent: (number | null)[]) {
  const rows = new Map<number, { posted: number | null; created: number; first: number; last: number }>();
  for (const s of subscribers)
    for (const [k, seq] of s.seqs.entries()) {
      const at = s.arrivals[k]!;
      const r = rows.get(seq);
      if (!r) rows.set(seq, { posted: sent[seq] ?? null, created: s.created[k]!, first: at, last: at });
      else {
        r.first = Math.min(r.first, at);
        r.last = Math.max(r.last, at);
      }
    }
  writeFileSync(file, JSON.stringify([...rows.entries()]));
}

function results(sent: (number | null)[], from: number, to: number) {
  const expected = sent.filter((t) => t !== null).length;
  const createdToArrival: number[] = [];
  const postToArrival: number[] = [];
  const postToCreated: number[] = [];
  const union = new Set<number>();
  for (const s of subscribers) for (const id of s.ids) union.add(id);
  const each = subscribers.map((s) => {
    const seen = new Set<number>();
    let duplicates = 0;
    for (const [k, seq] of s.seqs.entries()) {
      if (seen.has(seq)) duplicates++;
      seen.add(seq);
      const posted = sent[seq];
      if (seq < from || seq >= to || posted === null || posted === undefined) continue;
      createdToArrival.push(s.arrivals[k]! - s.created[k]!);
      postToArrival.push(s.arrivals[k]! - posted);
      postToCreated.push(s.created[k]! - posted);
    }
    return {
      events: s.ids.length,
      missingMessages: expected - [...seen].filter((seq) => sent[seq] !== null).length,
      duplicateMessages: duplicates,
      missingEvents: union.size - new Set(s.ids).size,
      outOfOrder: s.outOfOrder,
      closed: s.closed,
    };
  });
  const sum = (key: keyof (typeof each)[number]) => each.reduce((a, e) => a + Number(e[key]), 0);
  return {
    subscribers: subscribers.length,
    eventsPerSubscriber: latency(each.map((e) => e.events)),
    missingMessages: sum('missingMessages'),
    duplicateMessages: sum('duplicateMessages'),
    missingEvents: sum('missingEvents'),
    outOfOrder: sum('outOfOrder'),
    closed: sum('closed'),
    createdToArrival: latency(createdToArrival),
    postToArrival: latency(postToArrival),
    postToCreated: latency(postToCreated),
  };
}
