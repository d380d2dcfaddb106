import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SandboxService } from '../../send/support.ts';
import { type FakeLlm, startFakeLlm } from '../ai/fake-llm.ts';
import {
  conversation,
  fakeOpenAiEnv,
  type HookReceiver,
  lastOutcome,
  messageOf,
  noMoreThan,
  received,
  sentTo,
  startHookReceiver,
  startWithConfig,
  textsReceived,
  until,
} from './support.ts';

// Every trigger and every action of an automation rule, through the sandbox: what the customer
// receives, and the conversation (tags, owner) and the engine's job results in the API.

const SECRET = 'hook-secret-0123';
const AI_ANSWER = 'Try our blue mug, it is a customer favourite.';

const config = (hookUrl: string) => `rules:
  - name: pricing
    when: { keyword: [price, "gift card"] }
    reply:
      type: text
      text: "{{name}}, prices start at $10."
      quickReplies: [{ title: "Mugs", payload: MUGS }, { title: "Shirts", payload: SHIRTS }]
  - name: catalog
    when: { regex: "^cat(alog|alogue)\\\\b" }
    reply: { type: image, image: { url: "https://cdn.example.com/catalog.jpg" } }
  - name: offers
    when: { payload: [OFFERS, MORE_OFFERS] }
    reply:
      type: template
      template:
        type: generic
        elements:
          - title: "Offers for {{username}}"
            subtitle: "This week only"
            imageUrl: "https://cdn.example.com/offer.jpg"
            buttons: [{ type: web_url, title: "Shop", url: "https://shop.example/offers" }]
  - name: menu
    when: { keyword: menu }
    reply:
      type: template
      template:
        type: button
        text: "{{name}}, what would you like?"
        buttons:
          - { type: postback, title: "Offers", payload: OFFERS }
          - { type: web_url, title: "Website", url: "https://shop.example" }
  - name: say
    when: { regex: "^say .+" }
    reply: { type: text, text: "You said: {{text}}" }
  - name: empty-echo
    when: { payload: PARROT }
    reply: { type: text, text: "{{text}}" }
  - name: mention
    when: { event: story_mention }
    reply: { type: text, text: "Thanks for the mention!" }
  - name: story-reply
    when: { event: story_reply }
    reply: { type: text, text: "Glad you liked our story, {{name}}!" }
  - name: reaction
    when: { event: reaction }
    reply: { type: text, text: "Thanks for the reaction!" }
  - name: summer-link
    when: { referral: [summer-link, "6045"] }
    reply: { type: text, text: "Summer sale: 20% off until Sunday." }
  - name: ad
    when: { event: referral }
    reply: { type: text, text: "Welcome! You came from our ad." }
    tag: [ads]
  - name: vip
    when: { keyword: vip }
    tag: [vip, priority]
  - name: invoice
    when: { keyword: invoice }
    reply: { type: text, text: "We will email your invoice." }
    webhook: { url: "${hookUrl}", secret: "${SECRET}" }
    tag: billing
  - name: recommend
    when: { keyword: recommend }
    ai: true
  - name: orders
    when: { intent: order }
    reply: { type: text, text: "Great! What would you like to order?" }
    tag: order
  - name: support
    when: { intent: [support] }
    handover: human
    tag: support
  - name: welcome
    when: { event: first_message }
    reply: { type: text, text: "Welcome, {{name}}!" }
ai:
  provider: openai
  model: gpt-4o-mini
  system: "Be brief."
`;

let svc: SandboxService;
let llm: FakeLlm;
let hooks: HookReceiver;
let n = 0;
const who = () => `trigger customer ${++n}`;

beforeAll(async () => {
  llm = await startFakeLlm(() => ({ text: AI_ANSWER }));
  hooks = await startHookReceiver();
  svc = await startWithConfig(config(hooks.url), { env: fakeOpenAiEnv(llm.origin) });
});
afterAll(async () => {
  await svc?.stop();
  await llm?.close();
  await hooks?.close();
});
beforeEach(() => {
  llm.received.length = 0;
  hooks.received.length = 0;
  hooks.status = () => 200;
});

/** A customer who has written once already (so that first_message does not fire). */
async function known() {
  const c = await svc.customer({ from: who(), text: 'hello' });
  expect(await textsReceived(svc, c.igsid, 1)).toEqual([expect.stringMatching(/^Welcome, trigger customer/)]);
  return c;
}

describe('triggers', () => {
  it('keyword: a whole word, in any case, any of the list, spaces in a phrase flexible', async () => {
    const { igsid } = await known();
    const { name } = (await conversation(svc, igsid)).contact;
    await svc.customer({ from: igsid, text: "What's the PRICE?" });
    await svc.customer({ from: igsid, text: 'Do you sell Gift   Cards? I mean a gift card' });
    await svc.customer({ from: igsid, text: 'That photo is priceless' });
    await svc.customer({ from: igsid, text: 'prices?' });
    const texts = await textsReceived(svc, igsid, 5);
    expect(texts.slice(1)).toEqual([
      `${name}, prices start at $10.`,
      `${name}, prices start at $10.`,
      AI_ANSWER, // "priceless" is not the word "price"
      AI_ANSWER, // nor is "prices"
    ]);
    await noMoreThan(svc, igsid, 5);
  });

  it('regex: matched against the text, case-sensitive as written', async () => {
    const { igsid } = await known();
    await svc.customer({ from: igsid, text: 'catalogue please' });
    await svc.customer({ from: igsid, text: 'Catalog' }); // the regex has no i flag
    const sent = await received(svc, igsid, 3);
    expect(messageOf(sent[1]!)).toEqual({
      attachment: { type: 'image', payload: { url: 'https://cdn.example.com/catalog.jpg' } },
    });
    expect(messageOf(sent[2]!)).toEqual({ text: AI_ANSWER });
  });

  it('payload: a quick reply tap and a postback (button or ice breaker) with the payload', async () => {
    const { igsid } = await known();
    const { username } = (await conversation(svc, igsid)).contact;
    await svc.customer({ from: igsid, text: 'Offers', quickReplyPayload: 'OFFERS' });
    await svc.customer({ from: igsid, postback: { title: 'More offers', payload: 'MORE_OFFERS' } });
    const sent = await received(svc, igsid, 3);
    const generic = {
      attachment: {
        type: 'template',
        payload: {
          template_type: 'generic',
          elements: [
            {
              title: `Offers for ${username}`,
              subtitle: 'This week only',
              image_url: 'https://cdn.example.com/offer.jpg',
              buttons: [{ type: 'web_url', title: 'Shop', url: 'https://shop.example/offers' }],
            },
          ],
        },
      },
    };
    expect(messageOf(sent[1]!)).toEqual(generic);
    expect(messageOf(sent[2]!)).toEqual(generic);
    expect(await lastOutcome(svc, igsid)).toMatchObject({ kind: 'postback', rule: 'offers' });
    // A payload nobody configured is not a match (and a postback has no text for the AI).
    await svc.customer({ from: igsid, postback: { title: 'Other', payload: 'OTHER' } });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ kind: 'postback', silent: 'no rule matched' });
    await noMoreThan(svc, igsid, 3);
  });

  it('event story_mention and story_reply', async () => {
    const { igsid } = await known();
    const { name } = (await conversation(svc, igsid)).contact;
    await svc.customer({ from: igsid, storyMention: {} });
    await svc.customer({ from: igsid, text: 'love this!', storyReply: {} });
    expect((await textsReceived(svc, igsid, 3)).slice(1)).toEqual([
      'Thanks for the mention!',
      `Glad you liked our story, ${name}!`,
    ]);
  });

  it('event reaction: a reaction to a message, not its removal', async () => {
    const { igsid } = await known();
    const [welcome] = await received(svc, igsid, 1);
    await svc.customer({ from: igsid, reaction: { mid: welcome!.messageId!, reaction: 'love' } });
    expect((await textsReceived(svc, igsid, 2))[1]).toBe('Thanks for the reaction!');
    await svc.customer({ from: igsid, reaction: { mid: welcome!.messageId!, action: 'unreact' } });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ kind: 'reaction', silent: 'no rule matched' });
    await noMoreThan(svc, igsid, 2);
  });

  it('referral: the ig.me link named by its ref, or the ad by its id', async () => {
    const { igsid } = await svc.customer({ from: who(), referral: { ref: 'summer-link' } });
    expect(await textsReceived(svc, igsid, 1)).toEqual(['Summer sale: 20% off until Sunday.']);
    expect(await lastOutcome(svc, igsid)).toMatchObject({ kind: 'referral', rule: 'summer-link' });
    // Another link falls through to the general referral rule.
    const other = await svc.customer({ from: who(), referral: { ref: 'winter-link' } });
    expect(await lastOutcome(svc, other.igsid)).toMatchObject({ kind: 'referral', rule: 'ad' });
  });

  it('event referral (an ig.me link or an ad), with a tag', async () => {
    const { igsid } = await svc.customer({ from: who(), referral: { ref: 'summer-sale' } });
    expect(await textsReceived(svc, igsid, 1)).toEqual(['Welcome! You came from our ad.']);
    expect(await lastOutcome(svc, igsid)).toMatchObject({ kind: 'referral', rule: 'ad', tags: ['ads'] });
    expect((await conversation(svc, igsid)).tags).toEqual(['ads']);
  });

  it('event first_message: only the first message of a contact', async () => {
    const { igsid } = await svc.customer({ from: who(), text: 'Hi there!' });
    const { name } = (await conversation(svc, igsid)).contact;
    expect(await textsReceived(svc, igsid, 1)).toEqual([`Welcome, ${name}!`]);
    expect(await lastOutcome(svc, igsid)).toMatchObject({ rule: 'welcome', intent: 'general' });
    await svc.customer({ from: igsid, text: 'Hi there!' });
    expect((await textsReceived(svc, igsid, 2))[1]).toBe(AI_ANSWER);
    // A first message that another rule answers gets that rule's reply only (first match wins).
    const other = await svc.customer({ from: who(), text: 'menu' });
    expect(messageOf((await received(svc, other.igsid, 1))[0]!).attachment.payload.template_type).toBe(
      'button',
    );
    await noMoreThan(svc, other.igsid, 1);
  });

  it('intent: "I want to buy 2 of them" is an order (offline classifier); a complaint goes to a human', async () => {
    const { igsid } = await known();
    await svc.customer({ from: igsid, text: 'I want to buy 2 of them' });
    expect((await textsReceived(svc, igsid, 2))[1]).toBe('Great! What would you like to order?');
    expect(await lastOutcome(svc, igsid)).toMatchObject({ intent: 'order', rule: 'orders', tags: ['order'] });
    expect(await conversation(svc, igsid)).toMatchObject({ intent: 'order', tags: ['order'] });

    await svc.customer({ from: igsid, text: 'my order arrived broken, I want a refund' });
    expect(await lastOutcome(svc, igsid)).toMatchObject({
      intent: 'support',
      rule: 'support',
      handover: 'human',
      tags: ['order', 'support'],
    });
    expect(await conversation(svc, igsid)).toMatchObject({
      intent: 'support',
      threadOwner: 'human',
      tags: ['order', 'support'],
    });
    await noMoreThan(svc, igsid, 2);
  });

  it('the first matching rule in file order wins', async () => {
    const { igsid } = await known();
    // pricing (keyword) comes before orders (intent) and welcome (first message).
    await svc.customer({ from: igsid, text: 'I want to buy 2, what is the price?' });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ rule: 'pricing' });
    const first = await svc.customer({ from: who(), text: 'price' });
    expect(await lastOutcome(svc, first.igsid)).toMatchObject({ rule: 'pricing' });
    await noMoreThan(svc, first.igsid, 1);
    await noMoreThan(svc, igsid, 2);
  });
});

describe('actions', () => {
  it('reply: a text with quick replies, and {{name}}, {{username}}, {{text}} filled', async () => {
    const { igsid } = await known();
    const { name, username } = (await conversation(svc, igsid)).contact;
    expect(name).toBeTruthy();
    expect(username).toBeTruthy();
    await svc.customer({ from: igsid, text: 'price' });
    await svc.customer({ from: igsid, text: 'say hello to {{name}} & friends' });
    const sent = await received(svc, igsid, 3);
    expect(messageOf(sent[1]!)).toEqual({
      text: `${name}, prices start at $10.`,
      quick_replies: [
        { content_type: 'text', title: 'Mugs', payload: 'MUGS' },
        { content_type: 'text', title: 'Shirts', payload: 'SHIRTS' },
      ],
    });
    // The customer's text is put in as written: a placeholder in it is not filled again.
    expect(messageOf(sent[2]!)).toEqual({ text: 'You said: say hello to {{name}} & friends' });
  });

  it('reply: a button template with the name in its text', async () => {
    const { igsid } = await known();
    const { name } = (await conversation(svc, igsid)).contact;
    await svc.customer({ from: igsid, text: 'Show me the MENU' });
    expect(messageOf((await received(svc, igsid, 2))[1]!)).toEqual({
      attachment: {
        type: 'template',
        payload: {
          template_type: 'button',
          text: `${name}, what would you like?`,
          buttons: [
            { type: 'postback', title: 'Offers', payload: 'OFFERS' },
            { type: 'web_url', title: 'Website', url: 'https://shop.example' },
          ],
        },
      },
    });
  });

  it('reply: a reply that cannot be sent (empty after filling) is refused with a reason, not sent', async () => {
    const { igsid } = await known();
    await svc.customer({ from: igsid, postback: { title: 'Parrot', payload: 'PARROT' } });
    expect(await lastOutcome(svc, igsid)).toMatchObject({
      rule: 'empty-echo',
      refused: [{ reason: 'invalid_content', message: expect.any(String) }],
    });
    await noMoreThan(svc, igsid, 1);
  });

  it('tag: tags are added to the conversation (kept, no duplicates), no reply', async () => {
    const { igsid } = await known();
    await svc.customer({ from: igsid, text: 'I am a VIP' });
    await svc.customer({ from: igsid, text: 'vip again' });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ rule: 'vip', tags: ['vip', 'priority'] });
    expect((await conversation(svc, igsid)).tags).toEqual(['vip', 'priority']);
    await noMoreThan(svc, igsid, 1);
  });

  it('webhook: POSTs the event signed with HMAC-SHA256 and a delivery id, and as Standard Webhooks says', async () => {
    const { igsid, mid } = await known().then(async (c) =>
      svc.customer({ from: c.igsid, text: 'my invoice?' }),
    );
    expect((await textsReceived(svc, igsid, 2))[1]).toBe('We will email your invoice.');
    await until(
      () => hooks.received.length,
      (n) => n >= 1,
      'the rule webhook delivered',
    );
    expect(hooks.received).toHaveLength(1);
    const hook = hooks.received[0]!;
    expect(hook.headers['content-type']).toBe('application/json');
    expect(hook.headers['x-igdm-signature']).toBe(
      `sha256=${createHmac('sha256', SECRET).update(hook.raw).digest('hex')}`,
    );
    expect(hook.headers['x-igdm-delivery']).toMatch(/#invoice$/);
    // The standard headers too: webhook-id is the delivery id; the secret's bytes are the key.
    const id = hook.headers['webhook-id'] as string;
    const ts = hook.headers['webhook-timestamp'] as string;
    expect(id).toBe(hook.headers['x-igdm-delivery']);
    expect(hook.headers['webhook-signature']).toBe(
      `v1,${createHmac('sha256', SECRET).update(`${id}.${ts}.${hook.raw}`).digest('base64')}`,
    );
    expect(hook.body).toMatchObject({
      type: 'rule.matched',
      delivery: hook.headers['x-igdm-delivery'],
      rule: 'invoice',
      channelId: 'default',
      conversationId: (await conversation(svc, igsid)).id,
      event: { kind: 'message', mid, igsid, text: 'my invoice?' },
      intent: expect.any(String),
    });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ rule: 'invoice', webhook: { delivery: id } });
    expect((await conversation(svc, igsid)).tags).toEqual(['billing']);
  });

  it("webhook: a failing receiver gets the delivery again (same id), not the conversation's job", async () => {
    const { igsid } = await known();
    let calls = 0;
    hooks.status = () => (++calls === 1 ? 500 : 200);
    await svc.customer({ from: igsid, text: 'invoice please' });
    await until(
      () => hooks.received.length,
      (k) => k >= 1,
      'the first attempt',
    );
    // The next attempt waits seconds (backoff): run it now.
    await until(
      () => svc.queue.runNow('webhook').then(() => hooks.received.length),
      (k) => k >= 2,
      'the webhook retried',
    );
    expect(hooks.received.map((h) => h.headers['x-igdm-delivery'])).toEqual([
      hooks.received[0]!.headers['x-igdm-delivery'],
      hooks.received[0]!.headers['x-igdm-delivery'],
    ]);
    const outcome = await lastOutcome(svc, igsid);
    expect(outcome).toMatchObject({
      rule: 'invoice',
      webhook: { delivery: expect.stringMatching(/#invoice$/) },
    });
    expect((await textsReceived(svc, igsid, 2))[1]).toBe('We will email your invoice.');
    await noMoreThan(svc, igsid, 2);
    const jobs = (await svc.json(`/v1/jobs?conversationId=${(await conversation(svc, igsid)).id}`)).body
      .data as { attempts: number; result: { rule?: string }[] }[];
    expect(jobs.find((j) => j.result?.[0]?.rule === 'invoice')).toMatchObject({ attempts: 1 });
    const log = await until(
      () => svc.json('/v1/webhook-deliveries?rule=invoice').then((r) => r.body.data[0]),
      (d) => d?.status === 'succeeded',
      'the delivery log',
    );
    expect(log).toMatchObject({
      rule: 'invoice',
      webhookId: outcome.webhook.delivery,
      attempts: [
        { attempt: 1, status: 500, error: 'HTTP 500' },
        { attempt: 2, status: 200, error: null },
      ],
    });
  });

  it('ai: a rule with `ai: true` answers with the AI, with the conversation as context', async () => {
    const { igsid } = await known();
    await svc.customer({ from: igsid, text: 'what do you recommend?' });
    expect((await textsReceived(svc, igsid, 2))[1]).toBe(AI_ANSWER);
    const { name } = (await conversation(svc, igsid)).contact;
    expect(llm.received.at(-1)!.body['messages']).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: `Welcome, ${name}!` },
      { role: 'user', content: 'what do you recommend?' },
    ]);
    expect(await lastOutcome(svc, igsid)).toMatchObject({ rule: 'recommend', ai: { kind: 'reply' } });
  });

  it('handover: a matching rule hands the conversation to a human; the bot then stays silent', async () => {
    const { igsid } = await known();
    await svc.customer({ from: igsid, text: 'This is broken and I want my money back' });
    expect(await conversation(svc, igsid)).toMatchObject({ threadOwner: 'human' });
    await svc.customer({ from: igsid, text: 'price?' });
    expect(await lastOutcome(svc, igsid)).toMatchObject({ silent: 'a human owns the conversation' });
    await noMoreThan(svc, igsid, 1);
    expect(await sentTo(svc, igsid)).toHaveLength(1);
  });
});

describe('without AI', () => {
  let plain: SandboxService;
  beforeAll(async () => {
    plain = await startWithConfig(`rules:
  - name: pricing
    when: { keyword: price }
    reply: { type: text, text: "From $10." }
`);
  });
  afterAll(async () => {
    await plain?.stop();
  });

  it('no rule matches and no AI is configured: no reply, and the job result says why', async () => {
    const { igsid } = await plain.customer({ from: 'plain customer', text: 'what are your opening hours?' });
    expect(await lastOutcome(plain, igsid)).toEqual({
      kind: 'message',
      intent: 'enquiry',
      silent: 'no rule matched',
    });
    await noMoreThan(plain, igsid, 0);
    await plain.customer({ from: igsid, text: 'price' });
    expect(await textsReceived(plain, igsid, 1)).toEqual(['From $10.']);
  });
});
