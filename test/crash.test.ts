import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sign } from '../src/meta/signature.ts';
import { conversationIdOf } from '../src/store/ids.ts';
import { freePort, httpRequest, type IgdmProcess, killSpawned, sleep, spawnIgdm } from './support/http.ts';
import { ACCOUNT_ID, API_KEY, APP_SECRET, databaseUrlOf, textEvent } from './support/service.ts';
import { storedQuery } from './support/stored.ts';

// igdm as a real process. An event acknowledged with 200 is on disk: SIGKILL right after a burst
// loses none of them, and the restarted process applies them all. SIGTERM lets in-flight requests
// finish and exits 0.

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'igdm-crash-'));
  dirs.push(dir);
  return dir;
};

afterAll(async () => {
  await killSpawned();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const CUSTOMERS = Array.from({ length: 20 }, (_, i) => `72000000${String(i).padStart(4, '0')}`);

interface Delivery {
  body: string;
  /** The mids of the body's messages. */
  mids: string[];
}

/** `count` signed deliveries with unique mids: one to four messages, some split over two entries. */
function deliveries(count: number, tag: string): Delivery[] {
  const t = Date.now() - 60_000;
  let n = 0;
  return Array.from({ length: count }, (_, i) => {
    const items = Array.from({ length: 1 + (i % 4) }, (_, j) => {
      n++;
      return textEvent(CUSTOMERS[(i * 7 + j) % CUSTOMERS.length]!, `${tag} ${i}.${j}`, {
        mid: `aWdf.${tag}.${i}.${j}`,
        timestamp: t + n,
      });
    });
    const entry =
      items.length > 2 && i % 2 === 0
        ? [
            { id: ACCOUNT_ID, time: t + n, messaging: items.slice(0, 2) },
            { id: ACCOUNT_ID, time: t + n, messaging: items.slice(2) },
          ]
        : [{ id: ACCOUNT_ID, time: t + n, messaging: items }];
    return { body: JSON.stringify({ object: 'instagram', entry }), mids: items.map((e) => e.message.mid) };
  });
}

const headersFor = (body: string) => ({
  'content-type': 'application/json',
  'x-hub-signature-256': sign(body, APP_SECRET),
});

/** The stored dedup keys and the number of events not applied yet, read around igdm. */
async function readStore(dir: string) {
  const url = await databaseUrlOf(dir);
  const keys = new Set(
    (await storedQuery<{ dedup_key: string }>(url, 'select dedup_key from webhook_events')).map(
      (r) => r.dedup_key,
    ),
  );
  const [row] = await storedQuery<{ n: number }>(
    url,
    'select count(*) as n from webhook_events where applied_at is null',
  );
  return { keys, unapplied: Number(row!.n) };
}

async function waitApplied(dir: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { unapplied } = await readStore(dir);
    if (unapplied === 0) return;
    if (Date.now() > deadline) throw new Error(`${unapplied} events still unapplied after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Every message mid of every test customer, through the API (each list in full). */
async function apiMids(igdm: IgdmProcess): Promise<string[]> {
  const mids: string[] = [];
  for (const igsid of CUSTOMERS) {
    let cursor: string | null = null;
    do {
      const res = await httpRequest(
        `${igdm.url}/v1/conversations/${conversationIdOf('default', igsid)}/messages?order=asc&limit=200${cursor ? `&cursor=${cursor}` : ''}`,
        { headers: { authorization: `Bearer ${API_KEY}` }, agent: false },
      );
      if (res.status === 404) break; // no message of this customer was acknowledged
      expect(res.status, res.text).toBe(200);
      const page = JSON.parse(res.text) as { data: { mid: string }[]; nextCursor: string | null };
      mids.push(...page.data.map((m) => m.mid));
      cursor = page.nextCursor;
    } while (cursor);
  }
  return mids;
}

describe('igdm as a process', () => {
  it('keeps every acknowledged event through a SIGKILL right after a burst, and applies them on restart', {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir();
    const port = await freePort();
    const first = await spawnIgdm(dir, port);

    const all = deliveries(500, 'crash');
    const acked: string[] = [];
    let answered = 0;
    let killed = false;
    let next = 0;
    const agent = new Agent({ keepAlive: true, maxSockets: 12 });
    // Kill as soon as 400 deliveries are acknowledged, while the rest are still in flight.
    const sender = async () => {
      while (!killed && next < all.length) {
        const d = all[next++]!;
        try {
          const res = await httpRequest(`${first.url}/webhooks/meta`, {
            method: 'POST',
            headers: headersFor(d.body),
            body: d.body,
            agent,
          });
          if (res.status !== 200) throw new Error(`answered ${res.status}: ${res.text}`);
          acked.push(...d.mids);
          if (++answered >= 400 && !killed) {
            killed = true;
            first.child.kill('SIGKILL');
          }
        } catch (err) {
          if (!killed) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: 12 }, sender));
    agent.destroy();
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(answered).toBeGreaterThanOrEqual(400);

    const second = await spawnIgdm(dir, port);
    try {
      // Everything acknowledged was on disk: the restarted process finds it in the store.
      const { keys } = await readStore(dir);
      expect(acked.filter((m) => !keys.has(`message:${m}`))).toEqual([]);
      // (PostgreSQL's projection makes a round trip per statement: ~1000 events take longer.)
      await waitApplied(dir, 30_000);
      const mids = await apiMids(second);
      const seen = new Set(mids);
      expect(acked.filter((m) => !seen.has(m))).toEqual([]);
      expect(mids.length).toBe(seen.size); // no message twice
      // Stored but never acknowledged (in flight at the kill) is fine; sent-never is not.
      const sent = new Set(all.flatMap((d) => d.mids));
      expect(mids.filter((m) => !sent.has(m))).toEqual([]);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });

  it('answers in-flight requests on SIGTERM, stores them, and exits 0', async () => {
    const dir = tempDir();
    const port = await freePort();
    const igdm = await spawnIgdm(dir, port);

    // Requests the server is reading when it is told to stop: their headers have been parsed (the
    // server answered `100 Continue`) and half their body sent.
    const slow = deliveries(8, 'slow');
    const pending = slow.map((d) => {
      const body = Buffer.from(d.body);
      let finish = () => {};
      let started = () => {};
      const reading = new Promise<void>((resolve) => {
        started = resolve;
      });
      const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request(`${igdm.url}/webhooks/meta`, {
          method: 'POST',
          agent: false,
          headers: { ...headersFor(d.body), 'content-length': body.length, expect: '100-continue' },
        });
        req.on('continue', () => {
          req.write(body.subarray(0, body.length >> 1), () => started());
        });
        req.on('response', (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.on('error', reject);
        req.flushHeaders();
        finish = () => req.end(body.subarray(body.length >> 1));
      });
      return { d, answer, reading, finish: () => finish() };
    });
    await Promise.all(pending.map((p) => p.reading));
    await sleep(50); // let the half bodies reach the server

    // And a burst that is racing the signal.
    const burst = deliveries(60, 'burst');
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const burstAnswers = burst.map((d) =>
      httpRequest(`${igdm.url}/webhooks/meta`, {
        method: 'POST',
        headers: headersFor(d.body),
        body: d.body,
        agent,
      }).then(
        (r) => ({ d, status: r.status }),
        (err: Error) => ({ d, status: 0, error: err.message }),
      ),
    );
    await sleep(5);
    igdm.child.kill('SIGTERM');
    await sleep(200);
    expect(igdm.child.exitCode).toBeNull(); // still waiting for the slow requests
    for (const p of pending) p.finish();

    const answers = await Promise.all(pending.map((p) => p.answer));
    expect(answers.map((a) => `${a.status} ${a.text}`)).toEqual(slow.map(() => '200 EVENT_RECEIVED'));
    const burstResults = await Promise.all(burstAnswers);
    agent.destroy();
    // Refused while closing (503) or not connected at all is fine; anything else is not.
    for (const r of burstResults) expect([0, 200, 503]).toContain(r.status);

    const tooLong = new Promise<string>((resolve) =>
      setTimeout(() => resolve('still running'), 12_000).unref(),
    );
    const exit = await Promise.race([igdm.exited, tooLong]);
    expect(exit, igdm.output()).toEqual({ code: 0, signal: null });

    const { keys } = await readStore(dir);
    const acked = [...slow, ...burstResults.filter((r) => r.status === 200).map((r) => r.d)].flatMap(
      (d) => d.mids,
    );
    expect(acked.filter((m) => !keys.has(`message:${m}`))).toEqual([]);
  });
});
