// The load generator: inbound events as Meta sends them (signed webhooks, one customer message
// `seq N` each), POSTed at a fixed rate, open loop (the schedule never waits for an answer), over
// keep-alive connections, to whichever system is under test.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { ACCOUNT_ID, APP_SECRET, HOST } from './options.ts';
import type { Setup } from './setup.ts';
import { type Usage, UsageMeter } from './usage.ts';

/** Every inbound event of one run, by its number n (its text is "seq n"). */
export class Events {
  /** Date.now() when the POST was made (whole ms, the clock the sandbox records arrivals with). */
  readonly sentAt: number[] = [];
  /** performance.now() at the POST, for the acknowledgement latency. */
  readonly sentHr: number[] = [];
  readonly ackMs: number[] = [];
  /** HTTP status of the acknowledgement; 0 while waiting, -1 on a network error. */
  readonly status: number[] = [];
  /** When the first reply reached the sandbox (its clock); NaN until then. */
  readonly replyAt: number[] = [];
  readonly replies: number[] = [];
  inFlight = 0;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

function webhookBody(n: number, igsid: string, now: number): string {
  const mid = Buffer.from(`ig_item:1:IGMessageID:${ACCOUNT_ID}:${now}${n}`).toString('base64url');
  return JSON.stringify({
    object: 'instagram',
    entry: [
      {
        time: now,
        id: ACCOUNT_ID,
        messaging: [
          {
            sender: { id: igsid },
            recipient: { id: ACCOUNT_ID },
            timestamp: now,
            message: { mid, text: `seq ${n}` },
          },
        ],
      },
    ],
  });
}

/** POSTs inbound event n as Meta would: signed, JSON, one messaging item. */
function postEvent(events: Events, port: number, n: number, igsid: string): void {
  const now = Date.now();
  const body = Buffer.from(webhookBody(n, igsid, now));
  const signature = `sha256=${createHmac('sha256', APP_SECRET).update(body).digest('hex')}`;
  events.sentAt[n] = now;
  events.sentHr[n] = performance.now();
  events.status[n] = 0;
  events.ackMs[n] = Number.NaN;
  events.replyAt[n] ??= Number.NaN;
  events.replies[n] ??= 0;
  events.inFlight++;
  const done = (status: number) => {
    events.status[n] = status;
    events.ackMs[n] = performance.now() - events.sentHr[n]!;
    events.inFlight--;
  };
  const req = http.request(
    {
      host: HOST,
      port,
      path: '/webhooks/meta',
      method: 'POST',
      agent,
      headers: {
        'content-type': 'application/json',
        'content-length': body.length,
        'user-agent': 'facebookexternalua',
        'x-hub-signature-256': signature,
      },
    },
    (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
      res.on('error', () => done(-1));
    },
  );
  req.setTimeout(20_000, () => req.destroy(new Error('no answer in 20 s')));
  req.on('error', () => {
    if (events.status[n] === 0) done(-1);
  });
  req.end(body);
}

export interface Phase {
  rate: number;
  /** Events [from, to) were sent; [measuredFrom, to) are measured. */
  from: number;
  measuredFrom: number;
  to: number;
  /** Most events the generator was behind its schedule at a tick. */
  generatorLag: number;
  usage: Usage;
}

/** Sends events at `rate` for warmupS + seconds (open loop: the schedule never waits for answers). */
export async function drive(
  setup: Setup,
  events: Events,
  igsids: string[],
  rate: number,
  warmupS: number,
  seconds: number,
): Promise<Phase> {
  const port = setup.system.port;
  const from = events.sentAt.length;
  const warmup = Math.round(rate * warmupS);
  const total = warmup + Math.round(rate * seconds);
  const meter = new UsageMeter(setup);
  if (warmup === 0) meter.start();
  let sent = 0;
  let lag = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - t0;
      const due = Math.min(total, Math.floor((elapsed / 1000) * rate) + 1);
      lag = Math.max(lag, due - sent);
      while (sent < due) {
        if (sent === warmup && warmup > 0) meter.start();
        const n = from + sent;
        postEvent(events, port, n, igsids[n % igsids.length]!);
        sent++;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, Math.max(1, (sent / rate) * 1000 - (performance.now() - t0)));
    };
    tick();
  });
  return {
    rate,
    from,
    measuredFrom: from + warmup,
    to: from + total,
    generatorLag: lag,
    usage: meter.stop(),
  };
}
