import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type SandboxService, startSandboxService } from './support.ts';

// What POST /v1/messages refuses, and that a refused send leaves nothing behind: no outbox row, no
// message, no call to the Graph API.

let svc: SandboxService;
let igsid: string;

beforeAll(async () => {
  svc = await startSandboxService();
  ({ igsid } = await svc.customer({ from: 'validation customer', text: 'hi' }));
});
afterAll(async () => {
  await svc?.stop();
});
beforeEach(async () => {
  expect(await svc.counts()).toEqual({ outbox: 0, outbound: 0 });
});

/** Sends, then checks that nothing was queued or sent. */
async function refused(body: unknown) {
  const r = await svc.send(body);
  await new Promise((resolve) => setTimeout(resolve, 20)); // a sender woken by mistake would have called by now
  expect(await svc.counts()).toEqual({ outbox: 0, outbound: 0 });
  expect(await svc.outbox()).toEqual([]);
  return r;
}

const quickReplies = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ title: `Option ${i}`, payload: `OPTION_${i}` }));

describe('422 naming the field, for content Meta would refuse', () => {
  const CASES: [string, unknown, string, RegExp][] = [
    ['text over 1000 bytes', { type: 'text', text: 'é'.repeat(501) }, 'content.text', /1000 bytes/],
    [
      'text of exactly 1001 ASCII bytes',
      { type: 'text', text: 'a'.repeat(1001) },
      'content.text',
      /1000 bytes/,
    ],
    [
      '14 quick replies',
      { type: 'text', text: 'pick', quickReplies: quickReplies(14) },
      'content.quickReplies[13]',
      /at most 13/,
    ],
    [
      'a quick reply title over 20 characters',
      { type: 'text', text: 'pick', quickReplies: [{ title: 'x'.repeat(21), payload: 'P' }] },
      'content.quickReplies[0].title',
      /at most 20/,
    ],
    [
      'an http:// image url',
      { type: 'image', image: { url: 'http://cdn.example.com/a.png' } },
      'content.image.url',
      /https/,
    ],
    [
      'an http:// file url',
      { type: 'file', file: { url: 'http://cdn.example.com/a.pdf' } },
      'content.file.url',
      /https/,
    ],
    ['an unknown content type', { type: 'poll', question: 'Which?' }, 'content.type', /./],
    ['an unknown field', { type: 'text', text: 'hi', colour: 'red' }, 'content.colour', /unknown field/],
    [
      'a button template with 4 buttons',
      {
        type: 'template',
        template: {
          type: 'button',
          text: 'Choose',
          buttons: Array.from({ length: 4 }, (_, i) => ({
            type: 'postback',
            title: `B${i}`,
            payload: `B${i}`,
          })),
        },
      },
      'content.template.buttons[3]',
      /at most 3/,
    ],
  ];

  it.each(CASES)('%s', async (_name, content, path, message) => {
    const r = await refused({ to: igsid, content });
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.error.code).toBe('invalid_content');
    expect(r.body.error.message).toContain(path);
    expect(r.body.error.issues).toContainEqual({ path, message: expect.stringMatching(message) });
  });

  it('typing sent as a reply (sender actions go alone)', async () => {
    const r = await refused({ to: igsid, content: { type: 'typing' }, replyTo: 'm_1' });
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    expect(r.body.error.issues).toContainEqual({ path: 'content.type', message: expect.any(String) });
  });
});

describe('400 for a malformed request', () => {
  it.each([
    ['no `to`', { content: { type: 'text', text: 'hi' } }, /to/],
    ['`to` not digits', { to: 'maria', content: { type: 'text', text: 'hi' } }, /to/],
    ['`to` a number', { to: 123456, content: { type: 'text', text: 'hi' } }, /to/],
    ['an unknown field', { to: '123', content: { type: 'text', text: 'hi' }, priority: 'high' }, /priority/],
    [
      'humanAgent not a boolean',
      { to: '123', content: { type: 'text', text: 'hi' }, humanAgent: 'yes' },
      /humanAgent/,
    ],
    ['no content', { to: '123' }, /content/],
    ['a JSON array', [], /./],
  ])('%s', async (_name, body, message) => {
    const r = await refused(body);
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(r.body.error).toEqual({ code: 'invalid_request', message: expect.stringMatching(message) });
  });

  it('a body that is not JSON', async () => {
    const res = await svc.api('/v1/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"to": ',
    });
    expect(res.status).toBe(400);
    expect(await svc.counts()).toEqual({ outbox: 0, outbound: 0 });
  });
});

describe('404 for an unknown channel', () => {
  it('even with valid content and a customer who wrote', async () => {
    const r = await refused({ channelId: 'nope', to: igsid, content: { type: 'text', text: 'hi' } });
    expect(r.status, JSON.stringify(r.body)).toBe(404);
    expect(r.body.error).toEqual({ code: 'channel_not_found', message: expect.stringContaining('nope') });
  });
});

describe('the API key', () => {
  it('is required', async () => {
    const res = await fetch(`${svc.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: igsid, content: { type: 'text', text: 'hi' } }),
    });
    expect(res.status).toBe(401);
    expect(await svc.counts()).toEqual({ outbox: 0, outbound: 0 });
  });
});
