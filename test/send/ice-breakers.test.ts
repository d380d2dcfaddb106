import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxService, startSandboxService } from './support.ts';

// PUT /v1/channels/:id/ice-breakers sets the account's ice breakers at the Graph API
// (POST /me/messenger_profile), checked there through GET messenger_profile.

let svc: SandboxService;

beforeAll(async () => {
  svc = await startSandboxService();
});
afterAll(async () => {
  await svc?.stop();
});

const put = (iceBreakers: unknown, channel = 'default') =>
  svc.json(`/v1/channels/${channel}/ice-breakers`, { method: 'PUT', body: { iceBreakers } });

/** The sandbox's GET /me/messenger_profile?fields=ice_breakers, with the channel's token. */
async function profile() {
  const { accessToken } = svc.sandbox!.options;
  const res = await fetch(
    `${svc.url}/sandbox/graph/v24.0/me/messenger_profile?platform=instagram&fields=ice_breakers`,
    { headers: { authorization: `Bearer ${accessToken}` } },
  );
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: unknown[] }).data;
}

const QUESTIONS = [
  { question: 'What are your opening hours?', payload: 'HOURS' },
  { question: 'Où êtes-vous ? 📍', payload: 'WHERE' },
];

describe('PUT /v1/channels/default/ice-breakers', () => {
  it('sets them at Meta', async () => {
    const r = await put(QUESTIONS);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({ iceBreakers: QUESTIONS });
    expect(await profile()).toEqual([{ ice_breakers: [{ locale: 'default', call_to_actions: QUESTIONS }] }]);
    const calls = svc.sandbox!.calls.list().filter((c) => c.edge === 'messenger_profile');
    expect(calls.map((c) => [c.method, c.status])).toContainEqual(['POST', 200]);
  });

  it('4 is the most: all four are set', async () => {
    const four = Array.from({ length: 4 }, (_, i) => ({ question: `Question ${i}?`, payload: `Q${i}` }));
    expect((await put(four)).status).toBe(200);
    expect(await profile()).toEqual([{ ice_breakers: [{ locale: 'default', call_to_actions: four }] }]);
  });

  it('422 for 5 ice breakers; what Meta has is unchanged', async () => {
    const before = await profile();
    const five = Array.from({ length: 5 }, (_, i) => ({ question: `Question ${i}?`, payload: `Q${i}` }));
    const r = await put(five);
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.error).toEqual({ code: 'invalid_ice_breakers', message: expect.stringMatching(/4/) });
    expect(await profile()).toEqual(before);
  });

  it('422 for a question over 80 characters or an empty payload', async () => {
    const before = await profile();
    expect((await put([{ question: 'x'.repeat(81), payload: 'P' }])).status).toBe(422);
    expect((await put([{ question: 'Why?', payload: '' }])).status).toBe(422);
    expect(await profile()).toEqual(before);
  });

  it('an empty list removes them', async () => {
    expect((await put(QUESTIONS)).status).toBe(200);
    const r = await put([]);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await profile()).toEqual([]);
  });

  it('404 for an unknown channel', async () => {
    const r = await put(QUESTIONS, 'nope');
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('channel_not_found');
  });

  it("502 with Meta's reason when the Graph API refuses", async () => {
    await svc.inject({ kind: 'token_expired', count: 1, path: 'messenger_profile' });
    const r = await put(QUESTIONS);
    expect(r.status, JSON.stringify(r.body)).toBe(502);
    expect(r.body.error.code).toBe('token_expired');
  });
});
