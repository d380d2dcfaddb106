import { afterAll, beforeAll, expect, it } from 'vitest';
import { Clock, DAY, type SandboxService, startSandboxService } from './support.ts';

// An operator's own cap (IGDM_RATE_PER_RECIPIENT_PER_DAY): a message over one customer's cap waits
// for its turn without holding up the others, and the service still stops promptly.

const clock = new Clock().running();
let svc: SandboxService;

beforeAll(async () => {
  svc = await startSandboxService({ clock, env: { IGDM_RATE_PER_RECIPIENT_PER_DAY: '1' } });
});
afterAll(async () => {
  await svc?.stop();
});

it('one customer over the daily cap does not hold up another', async () => {
  const a = await svc.customer({ from: 'capped customer', text: 'hi' });
  const b = await svc.customer({ from: 'other customer', text: 'hello' });
  const a1 = await svc.send({ to: a.igsid, content: { type: 'text', text: 'A1' } });
  await svc.waitMessage(a1.body.id);
  const a2 = await svc.send({ to: a.igsid, content: { type: 'text', text: 'A2 (over the cap)' } });
  const b1 = await svc.send({ to: b.igsid, content: { type: 'text', text: 'B1' } });
  expect(await svc.waitMessage(b1.body.id, undefined, 3000)).toMatchObject({ status: 'sent' });
  expect((await svc.json(`/v1/messages/${a2.body.id}`)).body.status).toBe('queued');
  const texts = (await svc.outbox()).map((c) => (c.body as { message: { text: string } }).message.text);
  expect(texts).toEqual(['A1', 'B1']);
  // A2 waits in the outbox for the day to pass (the limiter's day is the wall clock's).
  const row = await svc.waitOutbox(a2.body.id, () => true);
  expect(row).toMatchObject({ status: 'queued', attempts: 0 });
  expect(Number(row.nextAttemptAt) - clock.now()).toBeGreaterThan(DAY - 60_000);
});

it('stopping does not wait for the cap', async () => {
  const started = Date.now();
  await svc.stop();
  expect(Date.now() - started).toBeLessThan(2000);
});
