import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allConversations,
  allMessages,
  type ConversationJson,
  deliver,
  echoItem,
  editItem,
  type MessageJson,
  messageItem,
  newIgsid,
  reactionItem,
  readItem,
  referralItem,
  unsendItem,
} from '../support/conversations.ts';
import { runIgdm } from '../support/http.ts';
import { igBody, mid, startTestService, type TestService, textEvent } from '../support/service.ts';

// `igdm replay` rebuilds conversations and messages from the stored webhook events. State is built
// through signed webhooks, corrupted directly in the SQLite file while the service is stopped, rebuilt
// by the CLI (a child process on the pinned Node), and read back through the REST API.

const igdm = (dir: string, ...args: string[]) => runIgdm(dir, args);

/** Everything the API shows, minus updatedAt (bookkeeping that a rebuild rightly moves). */
interface Snapshot {
  conversations: Omit<ConversationJson, 'updatedAt'>[];
  messages: Record<string, MessageJson[]>;
}

async function snapshot(svc: TestService): Promise<Snapshot> {
  const conversations = await allConversations(svc);
  const messages: Record<string, MessageJson[]> = {};
  for (const c of conversations) messages[c.id] = await allMessages(svc, c.id);
  return {
    conversations: conversations.map(({ updatedAt: _, ...c }) => c),
    messages,
  };
}

/** Opens the stopped service's store, runs `fn` on it, closes it. */
function withStore(dir: string, fn: (db: DatabaseSync) => void) {
  const db = new DatabaseSync(join(dir, 'igdm.sqlite'));
  try {
    fn(db);
  } finally {
    db.close();
  }
}

/** Starts the service on `dir`, reads its state through the API, stops it. */
async function stateOf(dir: string): Promise<Snapshot> {
  const svc = await startTestService({}, dir);
  try {
    await svc.settled();
    return await snapshot(svc);
  } finally {
    await svc.stop();
  }
}

let dir: string;
let before: Snapshot;
const alice = newIgsid();
const bob = newIgsid();
const carol = newIgsid();
let aliceId: string;
let bobId: string;
let carolId: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'igdm-replay-'));
  const svc = await startTestService({}, dir);
  try {
    let t = Date.now() - 60 * 60_000;
    const at = () => (t += 10_000);
    const a1 = mid();
    const a2 = mid();
    const a3 = mid();
    await deliver(
      svc,
      igBody([
        textEvent(alice, 'Is the blue jacket in stock?', { mid: a1, timestamp: at() }),
        messageItem(alice, at(), { mid: a2, text: 'size M plase', quick_reply: { payload: 'SIZE_M' } }),
      ]),
    );
    const replyA = echoItem(alice, at(), { text: 'Yes, size M is in stock.' });
    await deliver(
      svc,
      igBody([replyA]),
      igBody([reactionItem(alice, at(), a1, 'react', 'like')]),
      igBody([editItem(alice, at(), a2, 'size M please')]),
      igBody([readItem(alice, at(), replyA.message.mid)]),
    );
    // An unsend that overtakes its message, and a reaction replaced by a newer one.
    const a3At = at();
    const replyA2 = echoItem(alice, at(), { text: 'Anything else?' });
    await deliver(svc, igBody([unsendItem(alice, at(), a3)]));
    await deliver(
      svc,
      igBody([
        messageItem(alice, a3At, {
          mid: a3,
          attachments: [{ type: 'image', payload: { url: 'https://cdn.example/x.jpg' } }],
        }),
        replyA2,
      ]),
      igBody([reactionItem(alice, at(), replyA.message.mid, 'react', 'sad')]),
      igBody([reactionItem(alice, at(), replyA.message.mid, 'react', 'love')]),
    );

    const b1 = mid();
    await deliver(
      svc,
      igBody([
        textEvent(bob, 'Do you ship to Lyon?', { mid: b1, timestamp: at() }),
        messageItem(bob, at(), {
          text: 'Love it',
          reply_to: { story: { url: 'https://cdn.example/s', id: '99' } },
        }),
        echoItem(bob, at(), { text: 'We do!' }),
      ]),
      igBody([reactionItem(bob, at(), b1, 'react', 'wow'), reactionItem(bob, at(), b1, 'unreact')]),
    );
    await deliver(svc, igBody([referralItem(carol, at())]));

    before = await snapshot(svc);
    const id = (igsid: string) => before.conversations.find((c) => c.igsid === igsid)!.id;
    aliceId = id(alice);
    bobId = id(bob);
    carolId = id(carol);
  } finally {
    await svc.stop();
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('igdm replay', () => {
  it('built the state the tests rely on', () => {
    expect(before.conversations).toHaveLength(3);
    const a = before.messages[aliceId]!;
    expect(a.map((m) => [m.direction, m.type, m.text])).toEqual([
      ['inbound', 'text', 'Is the blue jacket in stock?'],
      ['inbound', 'text', 'size M please'],
      ['outbound', 'text', 'Yes, size M is in stock.'],
      ['inbound', 'image', null],
      ['outbound', 'text', 'Anything else?'],
    ]);
    expect(a[0]!.reactions).toMatchObject([{ reaction: 'like' }]);
    expect(a[1]!.editedAt).not.toBeNull();
    expect(a[2]).toMatchObject({ status: 'seen', reactions: [{ reaction: 'love' }] });
    expect(a[3]!.deletedAt).not.toBeNull();
    expect(a[4]).toMatchObject({ status: 'sent', seenAt: null });
    expect(before.messages[bobId]!.map((m) => m.type)).toEqual(['text', 'story_reply', 'text']);
    expect(before.messages[bobId]![0]!.reactions).toEqual([]);
    expect(before.messages[carolId]).toEqual([]);
    expect(before.conversations.find((c) => c.id === carolId)!.lastInboundAt).not.toBeNull();
  });

  it('--conversation rebuilds that conversation only', async () => {
    withStore(dir, (db) => {
      db.prepare('delete from messages where conversation_id = ?').run(aliceId);
      db.prepare('update conversations set last_inbound_at = null where id = ?').run(aliceId);
      db.prepare(`update messages set text = 'CORRUPTED', reactions = '[]' where conversation_id = ?`).run(
        bobId,
      );
    });
    const corrupted = await stateOf(dir);
    expect(corrupted.messages[aliceId]).toEqual([]);

    const r = await igdm(dir, 'replay', '--conversation', aliceId);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`replayed \\d+ events of conversation ${aliceId}`));

    const after = await stateOf(dir);
    // Bob's conversation was out of scope: its newest message is still as corrupted (lastMessage).
    const uncorrupted = (cs: Snapshot['conversations']) =>
      cs.map((c) => (c.id === bobId ? { ...c, lastMessage: null } : c));
    expect(uncorrupted(after.conversations)).toEqual(uncorrupted(before.conversations));
    expect(after.messages[aliceId]).toEqual(before.messages[aliceId]);
    expect(after.messages[carolId]).toEqual(before.messages[carolId]);
    expect(after.messages[bobId]!.map((m) => m.text)).toEqual(['CORRUPTED', 'CORRUPTED', 'CORRUPTED']);
  });

  it('without --conversation rebuilds every conversation', async () => {
    withStore(dir, (db) => {
      db.prepare('delete from messages where conversation_id = ?').run(carolId);
      db.prepare(
        `update messages set text = 'CORRUPTED', reactions = '[]', deleted_at = null, edited_at = null,
           status = 'received', seen_at = null`,
      ).run();
      db.prepare('delete from messages where id = ?').run(before.messages[aliceId]![4]!.id);
      db.prepare('update conversations set last_inbound_at = 1').run();
    });
    const r = await igdm(dir, 'replay');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/replayed \d+ events/);
    expect(await stateOf(dir)).toEqual(before);
  });

  it('rebuilds state only: the engine does not handle the events again', async () => {
    // Even with the engine's record of them gone (pruned), replayed events make no new jobs.
    withStore(dir, (db) => db.prepare('delete from jobs').run());
    expect((await igdm(dir, 'replay')).code).toBe(0);
    withStore(dir, (db) => {
      expect(db.prepare('select count(*) as n from jobs').get()).toEqual({ n: 0 });
    });
  });

  it('replaying twice changes nothing', async () => {
    expect((await igdm(dir, 'replay')).code).toBe(0);
    expect((await igdm(dir, 'replay', '--conversation', bobId)).code).toBe(0);
    expect(await stateOf(dir)).toEqual(before);
  });

  // The projector only moves clocks forward, so replay must reset them: a wrong (too new)
  // last_message_at must not survive a rebuild.
  it('rebuilds lastMessageAt too', async () => {
    withStore(dir, (db) => {
      db.prepare('update conversations set last_message_at = ? where id = ?').run(
        Date.now() + 86_400_000,
        bobId,
      );
    });
    expect((await igdm(dir, 'replay')).code).toBe(0);
    const after = await stateOf(dir);
    const bob = (s: Snapshot) => s.conversations.find((c) => c.id === bobId)!.lastMessageAt;
    expect(bob(after)).toBe(bob(before));
  });

  it('--conversation with an unknown id exits non-zero and says where to find ids', async () => {
    const r = await igdm(dir, 'replay', '--conversation', 'cnv_unknown');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no conversation "cnv_unknown"/);
    expect(r.stderr).toMatch(/GET \/v1\/conversations/);
    expect(r.stdout).toBe('');
  });

  it('--conversation without a value exits non-zero with a message', async () => {
    const r = await igdm(dir, 'replay', '--conversation');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--conversation/);
  });
});
