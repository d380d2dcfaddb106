import { afterAll, beforeAll, expect, it } from 'vitest';
import { delivered, type SandboxService, startSandboxService, until } from './support.ts';

// The send rate limit (IGDM_RATE_SEND_PER_SECOND): a burst waits for capacity instead of failing,
// and the Graph API never sees more than the limit in any one-second window, measured where Meta
// measures it: at its end (the sandbox's recorded request times), on a cold connection too.

const LIMIT = 5;
const BURST = 30;
let svc: SandboxService;

beforeAll(async () => {
  svc = await startSandboxService({ env: { IGDM_RATE_SEND_PER_SECOND: String(LIMIT) } });
});
afterAll(async () => {
  await svc?.stop();
});

/** The most calls any window [t, t + periodMs) holds, t being each call's time. */
function busiestWindow(times: number[], periodMs: number) {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (j < sorted.length && sorted[j]! < sorted[i]! + periodMs) j++;
    most = Math.max(most, j - i);
  }
  return most;
}

it(`a burst of ${BURST} messages to one customer: all sent, at most ${LIMIT} in any 1 s window`, async () => {
  const { igsid } = await svc.customer({ from: 'busy customer', text: 'tell me everything' });
  const queued = await Promise.all(
    Array.from({ length: BURST }, (_, i) =>
      svc.send({ to: igsid, content: { type: 'text', text: `part ${i}` } }),
    ),
  );
  expect(queued.map((r) => r.status)).toEqual(Array(BURST).fill(202));
  await until(
    async () => delivered(await svc.outbox()).length,
    (n) => n === BURST,
    'every message sent',
    (BURST / LIMIT) * 1000 + 3000,
  );
  for (const r of queued) expect((await svc.json(`/v1/messages/${r.body.id}`)).body.status).toBe('sent');

  const calls = await svc.outbox();
  expect(calls).toHaveLength(BURST); // none refused by the sandbox, none retried
  const texts = calls.map((c) => (c.body as { message: { text: string } }).message.text);
  expect(new Set(texts).size).toBe(BURST);
  const times = calls.map((c) => c.time);
  expect(busiestWindow(times, 1000), `call times: ${times.map((t) => t - times[0]!)}`).toBe(LIMIT);
  // Waiting for capacity, not much slower: 30 calls at 5/s take about 5 s.
  expect(Math.max(...times) - Math.min(...times)).toBeLessThan((BURST / LIMIT) * 1000 + 500);

  const outbound = (await svc.thread(igsid)).filter((m) => m.direction === 'outbound');
  expect(outbound).toHaveLength(BURST);
  expect(outbound.every((m) => m.isEcho && m.status === 'sent')).toBe(true);
});
