import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callApi, startTestService, type TestService } from '../support/service.ts';

// Saved replies, through HTTP on the real store: made, listed by shortcut, changed and deleted; a
// shortcut is lower-cased and unique; the text is held to Meta's 1000 bytes; reads need `read`,
// changes `send`; they are still there after a restart.

const dir = mkdtempSync(join(tmpdir(), 'igdm-saved-replies-'));
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({}, dir);
});
afterAll(async () => {
  await svc.stop();
  rmSync(dir, { recursive: true, force: true });
});

const call = (method: string, path: string, body?: unknown, key?: string) =>
  callApi(svc, method, path, { body, ...(key && { key }) });

describe('/v1/saved-replies', () => {
  it('makes, lists by shortcut, changes and deletes', async () => {
    const hours = await call('POST', '/v1/saved-replies', {
      shortcut: 'Hours',
      text: 'We open 9–18, Mon to Sat ☕',
    });
    expect(hours.status, JSON.stringify(hours.body)).toBe(201);
    expect(hours.body).toEqual({
      id: expect.stringMatching(/^sr_/),
      shortcut: 'hours',
      text: 'We open 9–18, Mon to Sat ☕',
      createdAt: expect.any(String),
      updatedAt: hours.body.createdAt,
    });
    const ship = await call('POST', '/v1/saved-replies', {
      shortcut: 'ship_eu-2',
      text: 'EU shipping: 3 days.',
    });
    expect(ship.status).toBe(201);
    const list = await call('GET', '/v1/saved-replies');
    expect(list.body.data.map((r: { shortcut: string }) => r.shortcut)).toEqual(['hours', 'ship_eu-2']);

    const changed = await call('PATCH', `/v1/saved-replies/${hours.body.id}`, { text: 'We open 9–19 now' });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ id: hours.body.id, shortcut: 'hours', text: 'We open 9–19 now' });
    const renamed = await call('PATCH', `/v1/saved-replies/${hours.body.id}`, { shortcut: 'zz-hours' });
    expect(renamed.body).toMatchObject({ shortcut: 'zz-hours', text: 'We open 9–19 now' });
    expect((await call('GET', '/v1/saved-replies')).body.data.map((r: { id: string }) => r.id)).toEqual([
      ship.body.id,
      hours.body.id,
    ]);

    const deleted = await call('DELETE', `/v1/saved-replies/${ship.body.id}`);
    expect(deleted.status).toBe(204);
    expect((await call('GET', '/v1/saved-replies')).body.data.map((r: { id: string }) => r.id)).toEqual([
      hours.body.id,
    ]);
    const again = await call('DELETE', `/v1/saved-replies/${ship.body.id}`);
    expect([again.status, again.body.error.code]).toEqual([404, 'saved_reply_not_found']);
    const gone = await call('PATCH', `/v1/saved-replies/${ship.body.id}`, { text: 'x' });
    expect([gone.status, gone.body.error.code]).toEqual([404, 'saved_reply_not_found']);
  });

  it('keeps shortcuts unique, as lower-cased: 409 saved_reply_exists', async () => {
    const first = await call('POST', '/v1/saved-replies', { shortcut: 'thanks', text: 'Thank you!' });
    expect(first.status).toBe(201);
    const twin = await call('POST', '/v1/saved-replies', { shortcut: 'THANKS', text: 'Thanks a lot!' });
    expect([twin.status, twin.body.error.code]).toEqual([409, 'saved_reply_exists']);
    const other = await call('POST', '/v1/saved-replies', { shortcut: 'ty', text: 'Ty!' });
    const taken = await call('PATCH', `/v1/saved-replies/${other.body.id}`, { shortcut: 'Thanks' });
    expect([taken.status, taken.body.error.code]).toEqual([409, 'saved_reply_exists']);
    // Renaming one to its own shortcut is no conflict.
    expect((await call('PATCH', `/v1/saved-replies/${other.body.id}`, { shortcut: 'TY' })).status).toBe(200);
    const texts = (await call('GET', '/v1/saved-replies')).body.data.map((r: { text: string }) => r.text);
    expect(texts).toContain('Thank you!');
    expect(texts).not.toContain('Thanks a lot!');
  });

  it("holds the text to Meta's 1000 bytes: 422 invalid_content beyond", async () => {
    const euro = '€'.repeat(333); // 999 bytes, 333 characters
    const atLimit = await call('POST', '/v1/saved-replies', { shortcut: 'euro', text: `${euro}!` });
    expect(atLimit.status, JSON.stringify(atLimit.body)).toBe(201);
    const over = await call('POST', '/v1/saved-replies', { shortcut: 'euro2', text: `${euro}€` });
    expect(over.status).toBe(422);
    expect(over.body.error).toEqual({
      code: 'invalid_content',
      message: expect.stringMatching(/1000 bytes/),
      issues: [{ path: 'text', message: expect.stringMatching(/1000 bytes/) }],
    });
    const longer = await call('PATCH', `/v1/saved-replies/${atLimit.body.id}`, { text: `${euro}€` });
    expect([longer.status, longer.body.error.code]).toEqual([422, 'invalid_content']);
    expect(
      (await call('GET', '/v1/saved-replies')).body.data.map((r: { shortcut: string }) => r.shortcut),
    ).not.toContain('euro2');
  });

  it.each([
    ['a shortcut with a space', { shortcut: 'opening hours', text: 'x' }, /shortcut/],
    ['a shortcut of 33 characters', { shortcut: 'a'.repeat(33), text: 'x' }, /shortcut/],
    ['an empty shortcut', { shortcut: '', text: 'x' }, /shortcut/],
    ['an empty text', { shortcut: 'empty', text: '' }, /text/],
    ['a text of spaces', { shortcut: 'spaces', text: '   ' }, /text/],
    ['no text', { shortcut: 'none' }, /text/],
    ['another field', { shortcut: 'more', text: 'x', channelId: 'default' }, /channelId/],
  ])('refuses %s: 400 invalid_request', async (_name, body, message) => {
    const r = await call('POST', '/v1/saved-replies', body);
    expect(r.status).toBe(400);
    expect(r.body.error).toEqual({ code: 'invalid_request', message: expect.stringMatching(message) });
  });

  it('refuses a change of nothing', async () => {
    const made = await call('POST', '/v1/saved-replies', { shortcut: 'nothing', text: 'x' });
    const r = await call('PATCH', `/v1/saved-replies/${made.body.id}`, {});
    expect([r.status, r.body.error.code]).toEqual([400, 'invalid_request']);
  });

  it('lets a read key read them and a send key change them', async () => {
    const reader = (await call('POST', '/v1/api-keys', { name: 'reader', scopes: ['read'] })).body.key;
    expect((await call('GET', '/v1/saved-replies', undefined, reader)).status).toBe(200);
    const refused = await call('POST', '/v1/saved-replies', { shortcut: 'nope', text: 'x' }, reader);
    expect([refused.status, refused.body.error.code]).toEqual([403, 'forbidden']);
    const agent = (await call('POST', '/v1/api-keys', { name: 'agent', agent: 'Ana', channels: ['default'] }))
      .body.key;
    expect(
      (await call('POST', '/v1/saved-replies', { shortcut: 'ana', text: 'Ana here' }, agent)).status,
    ).toBe(201);
  });

  it('are still there after a restart', async () => {
    const before = (await call('GET', '/v1/saved-replies')).body.data;
    expect(before.length).toBeGreaterThan(0);
    await svc.stop();
    svc = await startTestService({}, dir);
    expect((await call('GET', '/v1/saved-replies')).body.data).toEqual(before);
  });
});
