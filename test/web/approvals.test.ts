import { Igdm } from '@igdm/sdk';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxService, startSandboxService } from '../send/support.ts';
import { API_KEY } from '../support/service.ts';
import { type Chromium, launchChromium, requireInboxBuilt, screenshot, signIn } from './support.ts';

// An approval in the inbox, in Chromium against igdm in sandbox mode: a workflow asks for it
// through the API while the agent has the approver's conversation open; its DM shows in the
// thread as a pending card and in the pending approvals; the approver's tap (a simulated
// customer's quick reply) turns it approved, with who decided, without a reload.

describe('approvals in the inbox', () => {
  let svc: SandboxService;
  let client: Igdm;
  let chromium: Chromium;
  let page: Page;

  beforeAll(async () => {
    requireInboxBuilt();
    svc = await startSandboxService();
    client = new Igdm({ baseUrl: svc.url, apiKey: API_KEY });
    chromium = await launchChromium();
    page = await chromium.page();
    await signIn(page, svc.url, API_KEY);
  });
  afterAll(async () => {
    await chromium?.close(); // first: its event stream holds a request open
    await svc?.stop();
  });

  it('shows an approval pending in its thread and the pending list, then approved by the approver, live', async () => {
    const { igsid } = await svc.customer({ from: 'Ana Lima', text: 'I am the one who approves refunds' });
    const conversation = (await client.conversations.list()).data.find((c) => c.igsid === igsid)!;
    await page.goto(`${svc.url}/conversations/${conversation.id}`);
    await page.locator('.message.in', { hasText: 'approves refunds' }).waitFor();

    const approval = await client.approvals.create({
      channelId: 'default',
      approver: igsid,
      title: 'Refund order #1042',
      fields: [
        { label: 'Amount', value: '$120.00' },
        { label: 'Card', value: '4242 4242 4242 4242', display: 'masked' },
        { label: 'Reason', value: 'arrived broken', display: 'concealed' },
      ],
      expiresInSeconds: 3600,
    });

    // The DM, as a card, without a reload.
    const card = page.locator(`[data-kind="approval"][data-approval-id="${approval.id}"]`);
    await card.waitFor();
    expect(await card.getAttribute('data-state')).toBe('pending');
    expect(await card.locator('.card-title').textContent()).toBe('Refund order #1042');
    expect(await card.locator('dd').allTextContents()).toEqual(['$120.00', '••••••••']);
    expect(await card.textContent()).not.toContain('arrived broken');
    // The name the inbox gives the approver (their profile, read when they first wrote).
    const contact = (await client.conversations.get(conversation.id)).contact;
    const name = contact.name ?? `@${contact.username}`;
    expect(await card.getByTestId('approval-outcome').textContent()).toMatch(
      new RegExp(`^Waiting for ${name} · expires `),
    );
    const bubble = page.locator(`.message.out[data-message-id="${approval.messageId}"]`);
    expect(await bubble.locator('.author').textContent()).toBe('Approval');

    // Among the pending approvals, which open its conversation.
    await expect.poll(() => page.getByTestId('pending-approvals').textContent()).toBe('1');
    await page.getByRole('button', { name: /^Approvals/ }).click();
    const pending = page.getByRole('complementary', { name: 'Pending approvals' });
    await pending.locator(`[data-approval-id="${approval.id}"]`).waitFor();
    expect(await pending.textContent()).toContain(name);
    await page.goto(svc.url);
    await page.getByRole('button', { name: /^Approvals/ }).click();
    await pending.getByRole('button', { name: /Refund order #1042/ }).click();
    await page.waitForURL(`**/conversations/${conversation.id}`);
    await card.waitFor();
    await screenshot(page, 'approval-pending');

    // The approver taps Approve in Instagram (the sandbox's simulated customer).
    const tap = await client.sandbox.customerActs({
      from: igsid,
      text: 'Approve ✅',
      quickReplyPayload: `HIL_APPROVE|${approval.id}`,
    });
    expect(tap.delivered.status).toBe(200);
    await expect.poll(() => card.getAttribute('data-state'), { timeout: 5000 }).toBe('approved');
    expect(await card.getByTestId('approval-outcome').textContent()).toMatch(
      new RegExp(`^Approved by ${name} · \\d`),
    );
    // The tap and igdm's confirmation, in the thread too.
    await page.locator('.message.in', { hasText: 'Approve ✅' }).waitFor();
    await page.locator('.message.out', { hasText: 'Approved: Refund order #1042' }).waitFor();
    // They name the approval too; the card is its DM's alone.
    expect(await page.locator('[data-kind="approval"]').count()).toBe(1);
    await expect.poll(() => page.getByTestId('pending-approvals').count()).toBe(0);
    expect(await pending.textContent()).toContain('No approval is waiting for an answer.');
    await screenshot(page, 'approval-approved');

    // Read afresh (a new page load): the thread asks for its approvals, and shows the decision.
    await page.reload();
    await card.waitFor();
    expect(await card.getAttribute('data-state')).toBe('approved');
    expect(await card.getByTestId('approval-outcome').textContent()).toContain(`Approved by ${name}`);
  });
});
