import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clock, DAY, type SandboxService, startSandboxService, until } from '../send/support.ts';
import { API_KEY } from '../support/service.ts';
import {
  type Chromium,
  focused,
  launchChromium,
  requireInboxBuilt,
  row,
  screenshot,
  signIn,
} from './support.ts';

// An agent's day in the inbox, in Chromium against igdm in sandbox mode (its Graph API emulated,
// customers simulated): signing in, a DM arriving live, a reply reaching the Graph API, taking over
// from the bot, the windows, a failed send retried, and the phone's width.

const RULES = `rules:
  - name: pricing
    when: { keyword: [price] }
    reply: { type: text, text: "Prices start at $10." }
`;

/** The conversation of a sandbox customer, by IGSID. */
async function conversationId(svc: SandboxService, igsid: string): Promise<string> {
  const r = await svc.json('/v1/conversations?limit=200');
  const c = (r.body.data as { id: string; igsid: string }[]).find((x) => x.igsid === igsid);
  if (!c) throw new Error(`no conversation with ${igsid}`);
  return c.id;
}

/** Texts the Send API received, in order. */
async function sentTexts(svc: SandboxService): Promise<string[]> {
  return (await svc.outbox())
    .filter((e) => e.answer.status === 200)
    .map((e) => (e.body as { message?: { text?: string } }).message?.text)
    .filter((t): t is string => typeof t === 'string');
}

describe('the inbox in Chromium', () => {
  const clock = new Clock();
  let svc: SandboxService;
  let chromium: Chromium;
  let page: Page;

  beforeAll(async () => {
    requireInboxBuilt();
    const dir = mkdtempSync(join(tmpdir(), 'igdm-inbox-rules-'));
    writeFileSync(join(dir, 'automation.yaml'), RULES);
    clock.set(Date.now());
    clock.running();
    svc = await startSandboxService({ env: { IGDM_CONFIG: join(dir, 'automation.yaml') }, clock });
    chromium = await launchChromium();
    page = await chromium.page();
  });
  afterAll(async () => {
    await chromium?.close(); // first: its event stream holds a request open
    await svc?.stop();
  });

  it('refuses a wrong key, saying so, and opens the inbox with a right one', async () => {
    await page.goto(svc.url);
    await page.getByLabel('API key').fill('igdm_not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('igdm does not know this key');
    await screenshot(page, 'sign-in-refused');

    await page.getByLabel('API key').fill(API_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.app').waitFor();
    expect(await page.evaluate(() => localStorage.getItem('igdm.apiKey'))).toBe(API_KEY);
    expect(await page.getByTestId('agent').textContent()).toBe('IGDM_API_KEY');
    // A reload keeps the agent signed in.
    await page.reload();
    await page.locator('.app').waitFor();
  });

  it('shows a DM from the sandbox live, without a reload', async () => {
    const { igsid } = await svc.customer({
      from: 'ana',
      text: 'Hi! Do you ship to Lisbon? https://shop.example/mug',
    });
    const id = await conversationId(svc, igsid);
    await row(page, id).waitFor({ timeout: 5000 });
    await expect
      .poll(() => row(page, id).locator('.preview').textContent())
      .toContain('Do you ship to Lisbon');
    expect(await row(page, id).locator('.unread-badge').textContent()).toBe('1');
    expect(await row(page, id).locator('.window').textContent()).toMatch(/^2[34] h left$/);
    expect(await row(page, id).locator('.owner').textContent()).toContain('Bot');
  });

  it("sends the agent's reply, which the sandbox's Graph API receives", async () => {
    const igsid = (await svc.customer({ from: 'ana', text: 'Anyone there?' })).igsid;
    const id = await conversationId(svc, igsid);
    await row(page, id).click();
    await page.waitForURL(`**/conversations/${id}`);
    await page.locator('.message.in').first().waitFor();
    // The link in the customer's text is a link.
    expect(await page.locator('.message.in a[href="https://shop.example/mug"]').count()).toBe(1);
    // Read by an agent: the badge goes.
    await expect.poll(() => row(page, id).locator('.unread-badge').count()).toBe(0);

    const reply = page.getByLabel('Reply');
    await reply.fill('Yes, we ship to Lisbon! 🚚');
    // Meta counts bytes: the emoji is 4 of them.
    expect(await page.getByTestId('byte-counter').textContent()).toBe('28 / 1000 bytes');
    await reply.press('Enter');
    const bubble = page.locator('.message.out', { hasText: 'Yes, we ship to Lisbon!' });
    await bubble.waitFor();
    await expect.poll(() => bubble.getAttribute('data-status'), { timeout: 5000 }).toBe('sent');
    expect(await bubble.locator('.author').textContent()).toBe('API');
    expect(await sentTexts(svc)).toContain('Yes, we ship to Lisbon! 🚚');
  });

  it('takes a conversation over from the bot, which then stays silent', async () => {
    const { igsid } = await svc.customer({ from: 'bruno', text: 'What is the price of the mug?' });
    await until(
      () => sentTexts(svc),
      (t) => t.includes('Prices start at $10.'),
      'the bot answers',
    );
    const id = await conversationId(svc, igsid);
    await page.goto(`${svc.url}/conversations/${id}`);
    const botReply = page.locator('.message.out', { hasText: 'Prices start at $10.' });
    await botReply.waitFor();
    // The rule's name comes with the engine's jobs, which the thread asks for beside its messages.
    await expect.poll(() => botReply.locator('.author').textContent()).toBe('Bot · rule pricing');

    await page.getByRole('button', { name: 'Take over' }).click();
    await expect.poll(() => page.getByTestId('owner').textContent()).toContain('A human has taken over');
    await page.getByRole('button', { name: 'Give back to bot' }).waitFor();
    expect((await svc.json(`/v1/conversations/${id}`)).body.threadOwner).toBe('human');

    const before = (await sentTexts(svc)).length;
    await svc.customer({ from: igsid, text: 'And the price of the plate?' });
    await page.locator('.message.in', { hasText: 'the price of the plate' }).waitFor();
    await svc.sandbox!.delivery.settled();
    await svc.settled();
    expect((await sentTexts(svc)).length).toBe(before);
    await screenshot(page, 'taken-over');
  });

  it('explains the window: a human agent reply after 24 hours, nothing after 7 days, and a refused send', async () => {
    const realNow = Date.now();
    clock.set(realNow - 3 * DAY);
    const late = await svc.customer({ from: 'carla', text: 'Hello? (three days ago)' });
    clock.set(realNow - 8 * DAY);
    const gone = await svc.customer({ from: 'dario', text: 'Hello? (eight days ago)' });
    clock.set(Date.now());

    await page.goto(`${svc.url}/conversations/${await conversationId(svc, late.igsid)}`);
    expect(await page.getByTestId('window-badge').textContent()).toMatch(/^Human reply only · [34] d$/);
    expect(await page.getByRole('status').first().textContent()).toContain('HUMAN_AGENT');
    await page.getByLabel('Reply').fill('Sorry for the wait!');
    await page.getByRole('button', { name: 'Send as agent' }).click();
    const bubble = page.locator('.message.out', { hasText: 'Sorry for the wait!' });
    await expect.poll(() => bubble.getAttribute('data-status'), { timeout: 5000 }).toBe('sent');
    const sent = (await svc.outbox()).find(
      (e) => (e.body as { message?: { text?: string } }).message?.text === 'Sorry for the wait!',
    );
    expect((sent!.body as { tag?: string }).tag).toBe('HUMAN_AGENT');

    await page.goto(`${svc.url}/conversations/${await conversationId(svc, gone.igsid)}`);
    expect(await page.getByTestId('window-badge').textContent()).toBe('Closed');
    expect(await page.getByLabel('Reply').isDisabled()).toBe(true);
    expect(await page.getByRole('status').first().textContent()).toContain('More than 7 days have passed');
    await screenshot(page, 'window-closed');

    // The page thinks the window open; igdm's clock has moved on two days: its refusal, in words.
    const fresh = await svc.customer({ from: 'eva', text: 'Quick question' });
    await page.goto(`${svc.url}/conversations/${await conversationId(svc, fresh.igsid)}`);
    await page.getByLabel('Reply').fill('Sure, ask away');
    clock.set(Date.now() + 2 * DAY);
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await expect
      .poll(() => page.getByRole('alert').textContent())
      .toContain("The 24-hour window has closed: only a human agent's reply may go now");
    clock.set(Date.now());
  });

  it('shows a failed send with its reason, and retries it', async () => {
    const { igsid } = await svc.customer({ from: 'fabio', text: 'Is it in stock?' });
    await page.goto(`${svc.url}/conversations/${await conversationId(svc, igsid)}`);
    await svc.inject({ kind: 'outside_window', count: 1, path: 'messages' });
    await page.getByLabel('Reply').fill('Yes, 3 left.');
    await page.getByLabel('Reply').press('Enter');
    const bubble = page.locator('.message.out', { hasText: 'Yes, 3 left.' });
    await expect.poll(() => bubble.getAttribute('data-status'), { timeout: 8000 }).toBe('failed');
    expect(await bubble.locator('.state').textContent()).toMatch(/^Failed: /);
    await screenshot(page, 'failed-send');
    await bubble.getByRole('button', { name: 'Retry' }).click();
    await expect.poll(() => bubble.getAttribute('data-status'), { timeout: 8000 }).toBe('sent');
  });

  it('signs an agent in with their name; their replies are theirs; saved replies come with #; files upload', async () => {
    const made = await svc.json('/v1/api-keys', { body: { name: 'Maria in the inbox', agent: 'Maria' } });
    expect(made.status).toBe(201);
    const saved = await svc.json('/v1/saved-replies', {
      body: { shortcut: 'hours', text: 'We are open 9 to 6, Monday to Saturday.' },
    });
    expect(saved.status).toBe(201);
    const agent = await chromium.page();
    await signIn(agent, svc.url, made.body.key);
    expect(await agent.getByTestId('agent').textContent()).toBe('Maria');

    const { igsid } = await svc.customer({ from: 'gina', text: 'When are you open?' });
    await agent.goto(`${svc.url}/conversations/${await conversationId(svc, igsid)}`);
    const reply = agent.getByLabel('Reply');
    await reply.pressSequentially('Hi! #ho');
    await agent.getByRole('option', { name: /#hours/ }).waitFor();
    await reply.press('Enter');
    expect(await reply.inputValue()).toBe('Hi! We are open 9 to 6, Monday to Saturday.');
    await reply.press('Enter');
    const bubble = agent.locator('.message.out', { hasText: 'We are open 9 to 6' });
    await expect.poll(() => bubble.getAttribute('data-status'), { timeout: 5000 }).toBe('sent');
    expect(await bubble.locator('.author').textContent()).toBe('Maria');

    await agent.getByLabel('File to send').setInputFiles({
      name: 'mug.png',
      mimeType: 'image/png',
      buffer: Buffer.from(
        'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
        'base64',
      ),
    });
    const image = agent.locator('.message.out[data-type="image"]');
    await expect.poll(() => image.getAttribute('data-status'), { timeout: 5000 }).toBe('sent');
    expect(await image.locator('[data-kind="image"]').count()).toBe(1);
    const sends = (await svc.outbox()).filter((e) => e.answer.status === 200);
    const attachment = sends.map(
      (e) =>
        (e.body as { message?: { attachment?: { type: string; payload: { attachment_id?: string } } } })
          .message?.attachment,
    );
    expect(attachment.some((a) => a?.type === 'image' && a.payload.attachment_id)).toBe(true);

    // Her key revoked: the next page load signs her out, saying why, and forgets the key.
    expect((await svc.json(`/v1/api-keys/${made.body.id}`, { method: 'DELETE' })).status).toBe(204);
    await agent.reload();
    await expect
      .poll(() => agent.getByRole('alert').textContent())
      .toContain('Signed out: igdm does not know this key');
    expect(await agent.evaluate(() => localStorage.getItem('igdm.apiKey'))).toBeNull();
    await agent.context().close();
  });

  it('simulates a customer from the sandbox panel: a conversation within a second', async () => {
    await page.goto(svc.url);
    const panel = page.getByRole('region', { name: 'Simulate a customer' });
    await panel.getByLabel('Customer', { exact: true }).selectOption('');
    await panel.getByLabel("New customer's name").fill('Nora Lind');
    await panel.getByLabel('What the customer writes').fill('Do you have gift cards?');
    const started = Date.now();
    await panel.getByRole('button', { name: 'Send as the customer' }).click();
    await page.locator('.row', { hasText: 'Do you have gift cards?' }).waitFor({ timeout: 1000 });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(
      await page.locator('.row', { hasText: 'Do you have gift cards?' }).locator('.name').textContent(),
    ).toBe('Nora Lind');
  });

  it('notifies the desktop of a new message while the tab is in the background', async () => {
    const bg = await chromium.page();
    // Chromium headless shows no notifications and its tab is never hidden: both are stood in for.
    await bg.addInitScript(`
      window.__notes = [];
      window.__hidden = false;
      Object.defineProperty(document, 'visibilityState', { get: () => (window.__hidden ? 'hidden' : 'visible') });
      window.Notification = class {
        static permission = 'default';
        static async requestPermission() { window.Notification.permission = 'granted'; return 'granted'; }
        constructor(title, options) { window.__notes.push({ title, body: options.body }); }
      };
    `);
    await signIn(bg, svc.url, API_KEY);
    await bg.getByRole('button', { name: 'Notify me' }).click();
    await bg.getByRole('button', { name: 'Notify me' }).waitFor({ state: 'detached' });
    await svc.customer({ from: 'ana', text: 'Seen while you were here' });
    await bg.locator('.row', { hasText: 'Seen while you were here' }).waitFor();
    await bg.evaluate('window.__hidden = true');
    await svc.customer({ from: 'ana', text: 'Are you still there?' });
    await expect
      .poll(() => bg.evaluate<{ title: string; body: string }[]>('window.__notes'))
      .toEqual([{ title: 'New Instagram message', body: 'Are you still there?' }]);
    await bg.context().close();
  });

  it('searches the messages, and filters the list', async () => {
    await page.goto(svc.url);
    await page.locator('.row').first().waitFor();
    const names = () => page.locator('.row .name').allTextContents();
    const all = (await names()).length;
    await page.getByLabel('Search').fill('lisbon');
    await page.getByLabel('Search').press('Enter');
    await expect.poll(names).toEqual(['ana']);
    await page.getByLabel('Search').fill('');
    await expect.poll(async () => (await names()).length).toBe(all);

    await page.getByLabel('Owner').selectOption('human');
    // Until the filtered page has replaced the list (bruno is in both).
    const owners = () => page.locator('.row .owner').allTextContents();
    await expect.poll(async () => new Set(await owners())).toEqual(new Set(['Human']));
    await expect.poll(names).toContain('bruno');
    expect(await owners()).toEqual((await names()).map(() => 'Human'));
    await page.getByLabel('Owner').selectOption('');
    await page.getByLabel('Unread').check();
    await expect.poll(async () => (await names()).length).toBeLessThan(all);
    for (const badge of await page
      .locator('.row')
      .evaluateAll((rows) => rows.map((r) => r.querySelector('.unread-badge') !== null)))
      expect(badge).toBe(true);
    await page.getByLabel('Unread').uncheck();
  });

  it('moves with the keyboard: j and k, r to reply, / to search, e to resolve', async () => {
    await page.goto(svc.url);
    await page.locator('.row').first().waitFor();
    await page.keyboard.press('j');
    await page.waitForURL('**/conversations/*');
    const first = page.url();
    await page.keyboard.press('j');
    await expect.poll(() => page.url()).not.toBe(first);
    await page.keyboard.press('k');
    await expect.poll(() => page.url()).toBe(first);
    await page.getByLabel('Reply').waitFor();
    await page.keyboard.press('r');
    expect(await focused(page)).toBe('Reply');
    await page.keyboard.press('Escape');
    await page.keyboard.press('/');
    expect(await focused(page)).toBe('Search');
    await page.keyboard.press('Escape');
    const id = first.split('/').at(-1)!;
    await page.keyboard.press('e');
    await until(
      async () => (await svc.json(`/v1/conversations/${id}`)).body.status,
      (s) => s === 'resolved',
      'resolved',
    );
    // Resolved conversations leave the list of open ones.
    await expect.poll(() => row(page, id).count()).toBe(0);
  });

  it('works at a phone’s width (390 px)', async () => {
    const phone = await chromium.page({ width: 390, height: 844 });
    await signIn(phone, svc.url, API_KEY);
    const rows = phone.locator('.row');
    await rows.first().waitFor();
    const width = await phone.locator('.list').evaluate((el) => el.getBoundingClientRect().width);
    expect(width).toBe(390);
    await screenshot(phone, 'phone-list');
    await rows.first().locator('button').click();
    await phone.getByLabel('Reply').waitFor();
    expect(await phone.locator('.list').isVisible()).toBe(false);
    // Nothing sticks out sideways.
    expect(await phone.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await screenshot(phone, 'phone-thread');
    await phone.getByLabel('Back to the list').click();
    await rows.first().waitFor();
    expect(await phone.locator('.list').isVisible()).toBe(true);
  });
});
