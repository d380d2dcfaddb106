import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageIdOf } from '../../../src/store/ids.ts';
import { Clock, DAY, HOUR, type SandboxService } from '../../send/support.ts';
import {
  conversation,
  conversationId,
  lastOutcome,
  noMoreThan,
  outcomes,
  startWithConfig,
  textsReceived,
} from './support.ts';

// Story mentions (seed 000): the mention is recorded (who, when, which story: looked up by the
// message's mid, since the webhook carries only an expiring CDN URL), thanked once per story, and
// opens the 24-hour window like any message.

const clock = new Clock();
let svc: SandboxService;
let n = 0;
const who = () => `story customer ${++n}`;

beforeAll(async () => {
  svc = await startWithConfig(
    `rules:
  - name: thanks
    when: { event: story_mention }
    reply: { type: text, text: "Thanks for the mention, @{{username}}!" }
`,
    { clock },
  );
});
afterAll(async () => {
  await svc?.stop();
});

const mentionsOf = (igsid: string) =>
  svc.store.db
    .selectFrom('storyMentions')
    .selectAll()
    .where('conversationId', '=', conversationId(igsid))
    .orderBy('createdAt')
    .execute();

describe('story mentions', () => {
  it('is recorded: a story_mention message, and who, when and which story (looked up by mid)', async () => {
    clock.advance(HOUR);
    const url = 'https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1789000001&signature=abc';
    const { igsid, mid } = await svc.customer({
      from: who(),
      storyMention: { url, id: '17990000000000001' },
    });
    const m = await svc.json(`/v1/messages/${messageIdOf('default', mid)}`);
    expect(m.status).toBe(200);
    expect(m.body).toMatchObject({
      mid,
      direction: 'inbound',
      type: 'story_mention',
      author: 'customer',
      attachments: [expect.objectContaining({ type: 'story_mention', url })],
    });
    expect(await mentionsOf(igsid)).toEqual([
      expect.objectContaining({
        channelId: 'default',
        igsid,
        mid,
        storyId: '17990000000000001',
        mediaUrl: url,
        createdAt: clock.now(),
      }),
    ]);
    const { username } = (await conversation(svc, igsid)).contact;
    expect(await textsReceived(svc, igsid, 1)).toEqual([`Thanks for the mention, @${username}!`]);
    expect(await lastOutcome(svc, igsid)).toMatchObject({
      rule: 'thanks',
      storyMention: { storyId: '17990000000000001' },
    });
  });

  it('the same story mentioned twice is thanked once; another story is thanked again', async () => {
    clock.advance(HOUR);
    const { igsid } = await svc.customer({ from: who(), storyMention: { id: '17990000000000002' } });
    await textsReceived(svc, igsid, 1);
    clock.advance(1000);
    // The same story, mentioned again: a new message, a new CDN URL signature, the same story id.
    await svc.customer({ from: igsid, storyMention: { id: '17990000000000002' } });
    await noMoreThan(svc, igsid, 1);
    expect((await mentionsOf(igsid)).map((r) => r.storyId)).toEqual([
      '17990000000000002',
      '17990000000000002',
    ]);
    clock.advance(1000);
    await svc.customer({ from: igsid, storyMention: { id: '17990000000000003' } });
    expect(await textsReceived(svc, igsid, 2)).toEqual([
      expect.stringMatching(/^Thanks for the mention/),
      expect.stringMatching(/^Thanks for the mention/),
    ]);
    await noMoreThan(svc, igsid, 2);
    const thanked = (await outcomes(svc, igsid)).filter((o) => o.rule === 'thanks');
    expect(thanked).toHaveLength(3);
    // The repeat found the first thank-you already queued: the same message, not a second one.
    expect(thanked[1].queued).toEqual(thanked[0].queued);
    expect(thanked[2].queued).not.toEqual(thanked[0].queued);
  });

  it('two people mentioning in stories whose lookup fails are each thanked (keyed by the CDN asset)', async () => {
    clock.advance(HOUR);
    const a = await svc.customer({ from: who(), text: 'hi' });
    const b = await svc.customer({ from: who(), text: 'hi' });
    await svc.settled();
    // The story lookup (GET /{mid}) fails for both mentions: only the webhook's CDN URL is known.
    await svc.inject({ kind: '5xx', path: 'node', count: 2 });
    await svc.customer({ from: a.igsid, storyMention: {} });
    await svc.customer({ from: b.igsid, storyMention: {} });
    expect(await textsReceived(svc, a.igsid, 1)).toHaveLength(1);
    expect(await textsReceived(svc, b.igsid, 1)).toHaveLength(1);
    expect(await lastOutcome(svc, a.igsid)).toMatchObject({
      rule: 'thanks',
      storyMention: { storyId: null, lookup: expect.any(String) },
    });
    expect((await mentionsOf(a.igsid))[0]).toMatchObject({ storyId: null, mediaUrl: expect.any(String) });
  });

  it('opens the 24-hour window: a customer silent for two days is thanked', async () => {
    clock.advance(HOUR);
    const { igsid } = await svc.customer({ from: who(), text: 'hi' });
    clock.advance(2 * DAY);
    const before = clock.now();
    await svc.customer({ from: igsid, storyMention: { id: '17990000000000009' } });
    expect(await textsReceived(svc, igsid, 1)).toEqual([expect.stringMatching(/^Thanks for the mention/)]);
    // (windowOpen is computed on the wall clock, not the service's: see the report.)
    expect(await conversation(svc, igsid)).toMatchObject({
      lastInboundAt: new Date(before).toISOString(),
      windowClosesAt: new Date(before + DAY).toISOString(),
    });
  });
});
