// The event stream under load: N subscribers on GET /v1/events (subscribers.ts, a process of their
// own) while signed Instagram message webhooks arrive at a fixed rate, open loop, from the seed's
// existing customers. Each message gives a message.received event; its lag at every subscriber is
// measured from the event's createdAt and from the webhook's POST.
import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { messagingItem, messagingWebhook, metaJson } from '../../src/sandbox/wire.ts';
import { sign } from '../ingest/signature.ts';
import { cpuSeconds, machineSeconds, nodeBinary } from '../support.ts';
import { generator, inboundText, slotsFor } from './corpus.ts';
import type { Igdm } from './igdm.ts';
import { API_KEY, CHANNELS, HERE, HOST, log, options, sleep } from './options.ts';
import type { Manifest } from './seed.ts';
import { type Latency, latency } from './stats.ts';

export interface StreamResults {
  subscribers: number;
  rate: number;
  seconds: number;
  /** Webhooks sent in the measured window, and how many were not answered 200. */
  webhooks: number;
  refused: number;
  ack: Latency;
  eventsPerSubscriber: Latency;
  missingMessages: number;
  duplicateMessages: number;
  missingEvents: number;
  outOfOrder: number;
  closed: number;
  createdToArrival: Latency;
  postToArrival: Latency;
  postToCreated: Latency;
  /** Cores used over the window: igdm, the subscribers' process, the runner, the whole machine. */
  cores: { igdm: number; subscribers: number; runner: number; machine: number };
}

/** The longest the runner waits after the last webhook for every event to reach every subscriber. */
const DRAIN_S = 60;

type FromSubscribers =
  | { type: 'ready' }
  | { type: 'progress'; least: number }
  | { type: 'error'; message: string }
  | ({ type: 'result' } & Omit<
      StreamResults,
      'subscribers' | 'rate' | 'seconds' | 'webhooks' | 'refused' | 'ack' | 'cores'
    > & {
        subscribers: number;
      });

function ask(child: ChildProcess, msg: unknown, type: string, timeoutMs = 60_000): Promise<FromSubscribers> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the subscribers did not answer ${type}`)), timeoutMs);
    const on = (m: FromSubscribers) => {
      if (m.type === 'error') log(`subscriber: ${m.message}`);
      if (m.type !== type) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
    if (msg !== null) child.send(msg as object);
  });
}

export async function measureStream(igdm: Igdm, manifest: Manifest): Promise<StreamResults> {
  const child = fork(
    path.join(HERE, 'subscribers.ts'),
    [JSON.stringify({ port: igdm.port, count: options.subscribers, apiKey: API_KEY })],
    {
      execPath: nodeBinary(),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  try {
    await ask(child, null, 'ready', 30_000);
    log(
      `stream: ${options.subscribers} subscribers; webhooks at ${options.rate}/s for ${options.streamWarmupS} + ${options.streamS} s`,
    );
    return await load(igdm, manifest, child);
  } finally {
    child.kill('SIGKILL');
  }
}

async function load(igdm: Igdm, manifest: Manifest, child: ChildProcess): Promise<StreamResults> {
  const g = generator(500);
  const active = Array.from({ length: options.active }, () => {
    const index = g.int(manifest.conversations.length);
    const c = manifest.conversations[index]!;
    return {
      ...c,
      channel: CHANNELS.find((ch) => ch.id === c.channelId)!,
      slots: slotsFor(generator(index + 1), index),
    };
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const total = options.rate * (options.streamWarmupS + options.streamS);
  const from = options.rate * options.streamWarmupS;
  const sent: (number | null)[] = new Array(total).fill(null);
  const ack: number[] = [];
  let refused = 0;
  let answered = 0;
  const post = (seq: number) => {
    const c = active[seq % active.length]!;
    const account = c.channel.accountId;
    const now = Date.now();
    const mid = Buffer.from(`ig_item:1:IGMessageID:${account}:stream-${seq}`).toString('base64url');
    const message = { mid, text: inboundText(g, c.slots) };
    const body = Buffer.from(
      metaJson(messagingWebhook(account, now, [messagingItem(c.igsid, account, now, { message })])),
    );
    const started = performance.timeOrigin + performance.now();
    const req = http.request(
      {
        host: HOST,
        port: igdm.port,
        method: 'POST',
        path: '/webhooks/meta',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': body.length,
          'x-hub-signature-256': sign(c.channel.appSecret, body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          answered++;
          if (res.statusCode === 200) {
            sent[seq] = started;
            if (seq >= from) ack.push(performance.timeOrigin + performance.now() - started);
          } else refused++;
        });
      },
    );
    req.on('error', () => {
      answered++;
      refused++;
    });
    req.end(body);
  };

  // Open loop: every message at its time, whatever the answers.
  const started = performance.now();
  let next = 0;
  let usage: { igdm: number; subscribers: number; runner: number; machine: number; at: number } | null = null;
  const sample = () => ({
    igdm: cpuSeconds(igdm.pid),
    subscribers: cpuSeconds(child.pid!),
    runner: cpuSeconds('self'),
    machine: machineSeconds().busy,
    at: performance.now(),
  });
  while (next < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * options.rate) / 1000) + 1);
    while (next < due) {
      if (next === from) usage = sample();
      post(next++);
    }
    await sleep(1);
  }
  const end = sample();
  while (answered < total) await sleep(10);
  agent.destroy();
  // Until every subscriber has every message: a projection that fell behind catches up (at most
  // DRAIN_S; what has not arrived by then counts as missing).
  const deadline = Date.now() + DRAIN_S * 1000;
  for (;;) {
    const p = (await ask(child, { type: 'progress' }, 'progress')) as { least: number };
    if (p.least >= total - refused || Date.now() > deadline) break;
    await sleep(100);
  }
  const r = (await ask(child, { type: 'stop', sent, from, to: total }, 'result')) as Extract<
    FromSubscribers,
    { type: 'result' }
  >;
  const span = (end.at - usage!.at) / 1000;
  const cores = (k: 'igdm' | 'subscribers' | 'runner' | 'machine') =>
    Number(((end[k] - usage![k]) / span).toFixed(2));
  return {
    subscribers: r.subscribers,
    rate: options.rate,
    seconds: options.streamS,
    webhooks: total - from,
    refused,
    ack: latency(ack),
    eventsPerSubscriber: r.eventsPerSubscriber,
    missingMessages: r.missingMessages,
    duplicateMessages: r.duplicateMessages,
    missingEvents: r.missingEvents,
    outOfOrder: r.outOfOrder,
    closed: r.closed,
    createdToArrival: r.createdToArrival,
    postToArrival: r.postToArrival,
    postToCreated: r.postToCreated,
    cores: {
      igdm: cores('igdm'),
      subscribers: cores('subscribers'),
      runner: cores('runner'),
      machine: cores('machine'),
    },
  };
}
