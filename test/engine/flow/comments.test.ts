import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customerActs } from '../../../src/sandbox/inbound.ts';
import { Clock, DAY, delivered, type SandboxService, START } from '../../send/support.ts';
import { outcomes, startWithConfig } from './support.ts';

// "Comment LINK and we'll DM you": a comment rule answers a comment privately (a DM to the
// commenter, recipient.comment_id) and publicly (a reply under it), once per comment however often
// Meta delivers the comment, through the engine's ordered jobs; with the sandbox as Meta.

/** The YAML block of the README's "Comment to DM" section. */
const README_COMMENT_RULES = (() => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('### Comment to DM'));
  return /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
})();

const clock = new Clock();
let svc: SandboxService;
let n = 0;

beforeAll(async () => {
  clock.set(START);
  // The README's example as written there, and a rule for DMs with the same keyword.
  svc = await startWithConfig(
    `${README_COMMENT_RULES}  - name: price
    when: { keyword: LINK }
    reply: { type: text, text: "A DM with LINK" }
`,
    { clock },
  );
});
afterAll(async () => {
  await svc?.stop();
});

async function comment(text: string, extra: Record<string, unknown> = {}) {
  const r = await customerActs(svc.sandbox!, {
    from: `comment customer ${++n}`,
    comment: { text, ...extra },
  });
  expect(r.delivered.status).toBe(200);
  await svc.settled();
  return r;
}

/** Delivers the webhook again; `asCommentId` gives the comment's id as `comment_id` (another body). */
async function redeliver(webhook: unknown, asCommentId = false) {
  const body = structuredClone(webhook) as { entry: { changes: { value: Record<string, unknown> }[] }[] };
  if (asCommentId) {
    const value = body.entry[0]!.changes[0]!.value;
    value.comment_id = value.id;
    delete value.id;
  }
  expect((await svc.sandbox!.delivery.deliver('customer', body)).status).toBe(200);
  await svc.settled();
}

/** Send API calls to the comment (private replies), delivered by the sandbox. */
const privateRepliesTo = async (commentId: string) =>
  delivered(await svc.outbox()).filter(
    (e) => (e.body as { recipient?: { comment_id?: string } }).recipient?.comment_id === commentId,
  );
/** Public replies the sandbox holds under the comment. */
const publicRepliesTo = (commentId: string) =>
  [...svc.sandbox!.comments.values()].filter(
    (c) => c.parentId === commentId && c.igsid === svc.sandbox!.options.accountId,
  );

async function waitFor<T>(read: () => Promise<T> | T, done: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const v = await read();
    if (done(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('comment rules', () => {
  it('a comment with the keyword gets one private reply and one public reply, even delivered again', async () => {
    const c = await comment('LINK please!!');
    await redeliver(c.webhook); // the same body: one stored event
    await redeliver(c.webhook, true); // the same comment in Meta's other shape: a second stored event
    const sent = await waitFor(
      () => privateRepliesTo(c.commentId!),
      (s) => s.length > 0,
    );
    expect(sent.map((e) => e.body)).toEqual([
      {
        recipient: { comment_id: c.commentId },
        messaging_type: 'RESPONSE',
        message: { text: `Hi @${c.username}! Here is the link: https://shop.example/summer` },
      },
    ]);
    expect(publicRepliesTo(c.commentId!).map((r) => r.text)).toEqual([`Sent you a DM, @${c.username}!`]);

    // The public reply is in igdm's list too, under the comment.
    const listed = await svc.json(`/v1/comments?from=${svc.sandbox!.options.accountId}`);
    expect(listed.body.data).toContainEqual(
      expect.objectContaining({
        parentId: c.commentId,
        source: 'reply',
        text: `Sent you a DM, @${c.username}!`,
      }),
    );

    // Two engine jobs (two stored deliveries), one reply each way: the second job found both done.
    const results = (await outcomes(svc, c.igsid)).filter((o) => o.kind === 'comment');
    expect(results).toHaveLength(2);
    expect(results.map((o) => o.rule)).toEqual(['comment-link', 'comment-link']);
    expect(results[1]).toMatchObject({ publicReply: 'replied already' });
    expect(results[1].refused).toBeUndefined();
    expect(results[0].queued).toEqual(results[1].queued);
    // Nothing more after a while.
    await new Promise((r) => setTimeout(r, 100));
    expect(await privateRepliesTo(c.commentId!)).toHaveLength(1);
    expect(publicRepliesTo(c.commentId!)).toHaveLength(1);
  });

  it('live comments too; a comment without the keyword, or a reply to a comment, gets nothing', async () => {
    const live = await comment('link please', { live: true });
    await waitFor(
      () => privateRepliesTo(live.commentId!),
      (s) => s.length > 0,
    );
    expect(await privateRepliesTo(live.commentId!)).toHaveLength(1);

    const plain = await comment('Nice photo');
    const reply = await comment('LINK', { parentId: plain.commentId });
    for (const c of [plain, reply]) {
      const [o] = (await outcomes(svc, c.igsid)).filter((x) => x.kind === 'comment');
      expect(o.rule).toBeUndefined();
      expect(await privateRepliesTo(c.commentId!)).toEqual([]);
      expect(publicRepliesTo(c.commentId!)).toEqual([]);
    }
  });

  it('a DM with the keyword is answered by DM rules, not the comment rule', async () => {
    const { igsid } = await svc.customer({ from: `comment customer ${++n}`, text: 'LINK' });
    const [o] = (await outcomes(svc, igsid)).filter((x) => x.kind === 'message');
    expect(o.rule).toBe('price');
  });

  it('Meta failing the public reply: recorded, not tried again; the private reply still goes', async () => {
    await svc.inject({ kind: '5xx', path: 'replies' });
    const c = await comment('LINK now');
    await redeliver(c.webhook, true);
    const results = (await outcomes(svc, c.igsid)).filter((o) => o.kind === 'comment');
    expect(results).toHaveLength(2);
    expect(results[0].refused).toEqual([expect.objectContaining({ reason: expect.any(String) })]);
    expect(results[1]).toMatchObject({ publicReply: 'replied already' });
    expect(publicRepliesTo(c.commentId!)).toEqual([]);
    const calls = svc.sandbox!.calls.list().filter((x) => x.path.includes(`${c.commentId}/replies`));
    expect(calls.map((x) => x.failure)).toEqual(['5xx']);
    const sent = await waitFor(
      () => privateRepliesTo(c.commentId!),
      (s) => s.length > 0,
    );
    expect(sent).toHaveLength(1);
  });

  it('a comment older than 7 days is refused privately, with the reason kept', async () => {
    const c = await comment('LINK', {});
    // Meta delivers it (again) 8 days later: the private reply is out of Meta's window.
    clock.advance(8 * DAY);
    const other = structuredClone(c.webhook) as { entry: { changes: { value: { id: string } }[] }[] };
    const fresh = `${c.commentId!.slice(0, -1)}${(Number(c.commentId!.at(-1)) + 1) % 10}`;
    other.entry[0]!.changes[0]!.value.id = fresh;
    (other.entry[0] as unknown as { time: number }).time = Math.floor((clock.now() - 8 * DAY) / 1000);
    await redeliver(other);
    const results = (await outcomes(svc, c.igsid)).filter((o) => o.kind === 'comment');
    expect(results.at(-1).refused).toContainEqual(
      expect.objectContaining({ reason: 'private_reply_expired' }),
    );
  });
});
