import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import {
  deliver,
  editItem,
  getJson,
  messageItem,
  newIgsid,
  type Page,
  threadOf,
} from '../support/conversations.ts';
import { runIgdm } from '../support/http.ts';
import { ACCOUNT_ID, igBody, mid, startTestService } from '../support/service.ts';

// `igdm replay --unapplied`: after an upgrade fixed what kept events from being applied, it applies
// those again (and only those), and says how many now are and how many still are not. The earlier
// version is simulated in the store: an edit whose `num_edit` came as a string, marked unapplied as
// igdm did before it read such edits, and its effect undone.

let dir: string;
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('igdm replay --unapplied', () => {
  it('applies the events that were not applied; those that still cannot be stay listed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'igdm-replay-unapplied-'));
    const igsid = newIgsid();
    const m = mid();
    const at = Date.now() - 10 * 60_000;
    const broken = {
      sender: { id: igsid },
      recipient: { id: ACCOUNT_ID },
      timestamp: at,
      message: { text: 'no mid' },
    };
    let svc = await startTestService({}, dir);
    try {
      await deliver(
        svc,
        igBody([messageItem(igsid, at, { mid: m, text: 'Hi, size M?' })]),
        igBody([
          {
            ...editItem(igsid, at + 1000, m, 'Hi, size L?'),
            message_edit: { mid: m, text: 'Hi, size L?', num_edit: '1' },
          },
        ]),
        igBody([broken]),
      );
    } finally {
      await svc.stop();
    }

    // As an earlier version left it: the edit unapplied, the message as first written.
    const db = new DatabaseSync(join(dir, 'igdm.sqlite'));
    try {
      db.prepare(
        `update webhook_events set apply_status = 'unapplied',
           apply_error = 'bad message_edit: message_edit.num_edit: Invalid input' where kind = 'edit'`,
      ).run();
      db.prepare(`update messages set text = 'Hi, size M?', edited_at = null where mid = ?`).run(m);
    } finally {
      db.close();
    }

    const run = await runIgdm(dir, ['replay', '--unapplied']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('2 unapplied events tried again: 1 applied, 0 ignored, 1 still unapplied');

    svc = await startTestService({}, dir);
    try {
      await svc.settled();
      const { messages } = await threadOf(svc, igsid);
      expect(messages).toMatchObject([
        { mid: m, text: 'Hi, size L?', editedAt: new Date(at + 1000).toISOString() },
      ]);
      const unapplied = await getJson<Page<{ kind: string; reason: string; raw: unknown }>>(
        svc,
        '/v1/webhook-events?status=unapplied',
      );
      expect(unapplied.data).toEqual([
        expect.objectContaining({
          kind: 'message',
          reason: 'bad message: message.mid: Invalid input',
          raw: broken,
        }),
      ]);
    } finally {
      await svc.stop();
    }

    // Again: nothing more applies.
    const again = await runIgdm(dir, ['replay', '--unapplied']);
    expect(again.stdout).toContain('1 unapplied events tried again: 0 applied, 0 ignored, 1 still unapplied');
    const both = await runIgdm(dir, ['replay', '--unapplied', '--conversation', 'x']);
    expect(both.code).toBe(2);
  });
});
