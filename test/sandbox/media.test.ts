import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxService, startSandboxService } from '../send/support.ts';

// The sandbox emulates Meta's CDN: a simulated customer's media is served under /sandbox/cdn,
// without a key, until POST /sandbox/cdn/expire; igdm keeps a copy meanwhile (media/keeper.ts).

interface Kept {
  id: string;
  url: string;
  contentType: string | null;
  bytes: number;
}

describe("the sandbox's customers", () => {
  let sandbox: SandboxService;
  beforeAll(async () => {
    sandbox = await startSandboxService();
  });
  afterAll(() => sandbox?.stop());

  it("a story mention is kept, and shown from igdm's copy after the sandbox stopped serving its link", async () => {
    const { igsid, mid } = await sandbox.customer({ from: 'ana', storyMention: {} });
    let story: { payload: { url: string }; kept?: Kept } | undefined;
    for (let i = 0; i < 100 && !story?.kept; i++) {
      await new Promise((r) => setTimeout(r, 100));
      story = (await sandbox.thread(igsid)).find((m) => m.mid === mid)?.attachments[0] as typeof story;
    }
    expect(story).toMatchObject({ type: 'story_mention', kept: { contentType: 'image/png' } });
    // The sandbox serves the link, without a key, as Meta's CDN does...
    const link = story!.payload.url;
    expect(link).toMatch(/\/sandbox\/cdn\//);
    expect((await fetch(link)).status).toBe(200);
    // ... until it expires.
    expect((await sandbox.json('/sandbox/cdn/expire', { method: 'POST' })).status).toBe(200);
    expect((await fetch(link)).status).toBe(403);
    const copy = await sandbox.api(story!.kept!.url);
    expect(copy.status).toBe(200);
    expect(copy.headers.get('content-type')).toBe('image/png');
    expect((await copy.arrayBuffer()).byteLength).toBe(story!.kept!.bytes);
  });
});
