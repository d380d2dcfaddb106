import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxService, startSandboxService } from '../send/support.ts';
import { API_KEY } from '../support/service.ts';
import { type Chromium, launchChromium, requireInboxBuilt, screenshot, signIn } from './support.ts';

// Every kind of message a sandbox customer can send, and what igdm sends, rendered for what it is in
// Chromium; older messages load as the agent scrolls up.

/** A picture that loads without a network (Meta's CDN links would not, here). */
const picture = (label: string, color: string) =>
  'data:image/svg+xml,' +
  encodeURIComponent(
    `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="160"><rect width="240" height="160" fill="${color}"/>` +
      `<text x="120" y="88" font-family="sans-serif" font-size="22" fill="white" text-anchor="middle">${label}</text></svg>`,
  );
/** A link on Meta's CDN, which no longer loads (as once a story has expired). */
const EXPIRED = 'https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1&signature=expired';

async function conversationOf(svc: SandboxService, igsid: string): Promise<string> {
  const r = await svc.json('/v1/conversations?limit=200');
  return (r.body.data as { id: string; igsid: string }[]).find((x) => x.igsid === igsid)!.id;
}

const kind = (page: Page, k: string) => page.locator(`[data-kind="${k}"]`);

describe('message kinds in Chromium', () => {
  let svc: SandboxService;
  let chromium: Chromium;
  let page: Page;
  let igsid: string;

  beforeAll(async () => {
    requireInboxBuilt();
    svc = await startSandboxService();
    chromium = await launchChromium();
    page = await chromium.page({ width: 1280, height: 800 });

    // A customer's thread of every kind, with the business's answers.
    const c = (action: Record<string, unknown>) => svc.customer({ from: igsid, ...action });
    ({ igsid } = await svc.customer({ from: 'Giulia Rossi', text: 'Hi! Is the blue mug back in stock?' }));
    const sent = await svc.send({ to: igsid, content: { type: 'text', text: 'It is! Here it is:' } });
    const reply = await svc.waitMessage(sent.body.id);
    await c({ reaction: { mid: reply.mid, reaction: 'love', emoji: '❤️' } });
    await c({ storyMention: { url: picture('her story', '#d62976') } });
    await c({ storyMention: { url: EXPIRED } });
    await c({ storyReply: { url: picture('your story', '#4f5bd5') }, text: 'Love this one!' });
    await c({ attachments: [{ type: 'image', url: picture('photo', '#16a34a') }] });
    await c({ attachments: [{ type: 'video', url: 'https://video.example/clip.mp4' }] });
    await c({ attachments: [{ type: 'audio', url: 'https://audio.example/voice.m4a' }] });
    await c({ attachments: [{ type: 'file', url: 'https://files.example/invoice.pdf' }] });
    await c({
      attachments: [
        {
          type: 'ig_reel',
          payload: { url: picture('reel', '#0ea5e9'), title: 'Our new mug', reel_video_id: '1799' },
        },
      ],
    });
    await c({ attachments: [{ type: 'share', url: picture('post', '#f59e0b') }] });
    await c({
      product: {
        id: '4761234567890',
        retailerId: 'MUG-BLUE',
        name: 'Blue mug',
        price: '$12',
        imageUrl: picture('mug', '#2563eb'),
      },
    });
    await c({ text: 'Yes please', quickReplyPayload: 'BUY_MUG' });
    await c({ postback: { title: 'Talk to a human', payload: 'HUMAN' } });
    await c({ attachments: [{ type: 'ephemeral' }] });
    await c({ attachments: [{ type: 'weird_thing', url: 'https://example.com/x' }] });
    const oops = await c({ text: 'Oops, wrong chat' });
    await c({ unsend: oops.mid });
    await c({ text: 'Can I pay on delivery?', replyTo: reply.mid });
    const template = await svc.send({
      to: igsid,
      content: {
        type: 'template',
        template: {
          type: 'generic',
          elements: [
            {
              title: 'Blue mug',
              subtitle: '$12',
              imageUrl: 'https://shop.example/mug.jpg',
              buttons: [{ type: 'web_url', title: 'Shop', url: 'https://shop.example/mug' }],
            },
          ],
        },
      },
    });
    expect(template.status, JSON.stringify(template.body)).toBe(202);
    await svc.settled();

    await signIn(page, svc.url, API_KEY);
    await page.goto(`${svc.url}/conversations/${await conversationOf(svc, igsid)}`);
    await page.locator('[data-kind="template"]').waitFor();
  });
  afterAll(async () => {
    await chromium?.close();
    await svc?.stop();
  });

  it('renders text with links, reactions on the bubble, and what a message quotes', async () => {
    const first = page.locator('.message.in', { hasText: 'Is the blue mug back in stock?' });
    await first.waitFor();
    const answered = page.locator('.message.out', { hasText: 'It is! Here it is:' });
    expect(await answered.locator('[data-kind="reactions"]').textContent()).toBe('❤️');
    expect(await kind(page, 'reply').textContent()).toContain('It is! Here it is:');
  });

  it('shows stories, and says when one has expired', async () => {
    const stories = kind(page, 'story');
    expect(await stories.count()).toBe(3); // two mentions, one reply
    expect(await stories.nth(0).textContent()).toContain('Mentioned you in their story');
    await stories.nth(0).scrollIntoViewIfNeeded(); // pictures load as they come into view
    await expect
      .poll(() =>
        stories
          .nth(0)
          .locator('img')
          .evaluate((img: { naturalWidth: number }) => img.naturalWidth),
      )
      .toBe(240);
    await stories.nth(1).scrollIntoViewIfNeeded();
    await expect.poll(() => stories.nth(1).textContent(), { timeout: 10_000 }).toContain('Story expired');
    const storyReply = page.locator('.message', { hasText: 'Love this one!' });
    expect(await storyReply.locator('[data-kind="story"]').textContent()).toContain('Replied to your story');
  });

  it('plays media, and shows files, reels, shares and products as cards', async () => {
    await kind(page, 'image').scrollIntoViewIfNeeded();
    await expect
      .poll(() =>
        kind(page, 'image')
          .locator('img')
          .evaluate((img: { naturalWidth: number }) => img.naturalWidth),
      )
      .toBe(240);
    expect(await page.locator('[data-kind="video"] video, [data-kind="video"] .media-gone').count()).toBe(1);
    expect(await page.locator('[data-kind="audio"] audio, [data-kind="audio"] .media-gone').count()).toBe(1);
    expect(await kind(page, 'file').getAttribute('href')).toBe('https://files.example/invoice.pdf');
    expect(await kind(page, 'ig_reel').textContent()).toContain('Shared a reel');
    expect(await kind(page, 'ig_reel').textContent()).toContain('Our new mug');
    expect(await kind(page, 'share').textContent()).toContain('Shared a post');
    const product = kind(page, 'product');
    expect(await product.textContent()).toContain('Blue mug');
    expect(await product.textContent()).toContain('$12');
    expect(await product.textContent()).toContain('SKU MUG-BLUE');
  });

  it('shows quick-reply taps and postbacks with their payload, and what Instagram keeps to itself', async () => {
    expect(await kind(page, 'quick_reply').textContent()).toContain('BUY_MUG');
    const postback = kind(page, 'postback');
    expect(await postback.textContent()).toContain('Talk to a human');
    expect(await postback.textContent()).toContain('HUMAN');
    expect(await kind(page, 'ephemeral').textContent()).toContain('disappearing');
    expect(await kind(page, 'unsupported').textContent()).toContain('Unsupported attachment (weird_thing)');
    const unsent = page.locator('.message.deleted', { hasText: 'Oops, wrong chat' });
    expect(await unsent.locator('.marker').textContent()).toBe('unsent');
  });

  it("shows igdm's own: a template as cards, and the heart sticker sent from the composer", async () => {
    expect(await kind(page, 'template').textContent()).toContain('Blue mug');
    expect(await kind(page, 'template').locator('a', { hasText: 'Shop' }).getAttribute('href')).toBe(
      'https://shop.example/mug',
    );
    await page.getByRole('button', { name: 'Send a heart sticker' }).click();
    const sticker = page.locator('.message.out', { has: kind(page, 'sticker') });
    await expect.poll(() => sticker.getAttribute('data-status'), { timeout: 5000 }).toBe('sent');
    const hearts = (await svc.outbox()).filter(
      (e) =>
        (e.body as { message?: { attachment?: { type?: string } } }).message?.attachment?.type ===
        'like_heart',
    );
    expect(hearts).toHaveLength(1);
  });

  it('loads older messages as the agent scrolls up', async () => {
    const { igsid: chatty } = await svc.customer({ from: 'Chatty Cathy', text: 'message 1' });
    for (let i = 2; i <= 60; i++) await svc.customer({ from: chatty, text: `message ${i}` });
    await page.goto(`${svc.url}/conversations/${await conversationOf(svc, chatty)}`);
    await page.locator('.message', { hasText: 'message 60' }).waitFor();
    expect(await page.locator('.message').count()).toBe(50);
    await page.locator('.messages').evaluate((el: { scrollTop: number }) => {
      el.scrollTop = 0;
    });
    await page.locator('.message .text', { hasText: /^message 1$/ }).waitFor();
    expect(await page.locator('.message').count()).toBe(60);
  });

  it('shows a day in the shop (the README screenshots: docs/inbox.png, docs/inbox-phone.png)', async () => {
    const ask = (from: string, action: Record<string, unknown>) => svc.customer({ from, ...action });
    await ask('Marta Silva', { text: 'Do you ship to Lisbon?' });
    await ask('Tom Becker', { storyMention: { url: picture('@yourshop ☕', '#d62976') } });
    const { igsid: lena } = await ask('Lena Park', { text: 'Hi! Is the blue mug back in stock?' });
    // Maria answers, with her own key.
    const maria = (await svc.json('/v1/api-keys', { body: { name: 'Maria in the inbox', agent: 'Maria' } }))
      .body.key as string;
    const answer = await fetch(`${svc.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${maria}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        to: lena,
        content: {
          type: 'text',
          text: 'It is! We restocked this morning. Want me to hold one for you?',
          quickReplies: [
            { title: 'Yes please', payload: 'HOLD' },
            { title: 'Just looking', payload: 'BROWSE' },
          ],
        },
      }),
    }).then((r) => r.json() as Promise<{ id: string }>);
    const sent = await svc.waitMessage(answer.id);
    await ask(lena, { reaction: { mid: sent.mid, reaction: 'love', emoji: '❤️' } });
    await ask(lena, { text: 'Yes please', quickReplyPayload: 'HOLD' });
    await ask(lena, {
      product: {
        id: '4761234567891',
        retailerId: 'MUG-BLUE',
        name: 'Blue mug, 350 ml',
        price: '$12',
        imageUrl: picture('blue mug', '#2563eb'),
      },
    });
    await ask(lena, { text: 'And this one in green, too?' });
    const id = await conversationOf(svc, lena);
    await svc.json(`/v1/conversations/${id}`, {
      method: 'PATCH',
      body: { tags: ['vip', 'order'], assignee: 'Maria' },
    });
    await svc.json(`/v1/conversations/${id}/notes`, { body: { text: 'Regular customer: free gift wrap.' } });
    const desk = await chromium.page({ width: 1280, height: 800 });
    await signIn(desk, svc.url, maria);
    await desk.goto(`${svc.url}/conversations/${id}`);
    await desk.getByLabel('Reply').fill('Green is in stock too! I have put both aside for you 🎁');
    await desk.getByRole('button', { name: 'Contact details' }).click();
    await desk.locator('.notes li').waitFor();
    await desk.getByLabel('Close the sandbox panel').click();
    expect(await desk.locator('.message.out .author').first().textContent()).toBe('Maria');
    await kind(desk, 'product')
      .locator('img')
      .evaluate((img: { complete: boolean }) => img.complete);
    await screenshot(desk, 'inbox');

    const phone = await chromium.page({ width: 390, height: 844 });
    await signIn(phone, svc.url, maria);
    await phone.goto(`${svc.url}/conversations/${id}`);
    await phone.locator('[data-kind="product"]').waitFor();
    await screenshot(phone, 'inbox-phone');
  });
});
