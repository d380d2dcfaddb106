import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliver, messageItem, newIgsid, threadOf } from '../support/conversations.ts';
import { API_KEY, callApi, igBody, startTestService, type TestService } from '../support/service.ts';

// Copies of inbound media: Meta's CDN links expire (a story mention's within a day). igdm fetches
// every inbound attachment's link into its data folder off the hot path, serves the copy with the
// key, names it on the message, keeps within its size caps, and erases it with the contact. A local
// server stands in for Meta's CDN, and stops serving a link as Meta's do.

const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
    '1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082',
  'hex',
);

/** Meta's CDN: serves what is put under a path, until it expires. */
class Cdn {
  readonly files = new Map<string, { body: Buffer; type: string }>();
  readonly #server = http.createServer((req, res) => {
    const f = this.files.get(req.url ?? '');
    if (!f) {
      res.writeHead(404).end('URL signature expired');
      return;
    }
    res.writeHead(200, { 'content-type': f.type, 'content-length': f.body.length }).end(f.body);
  });
  url = '';
  async start() {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }
  put(path: string, body: Buffer, type = 'image/png') {
    this.files.set(path, { body, type });
    return this.url + path;
  }
  stop() {
    // Keep-alive connections of this process's clients (fetch's, http-client's) would hold close().
    const closed = new Promise((resolve) => this.#server.close(resolve));
    this.#server.closeAllConnections();
    return closed;
  }
}

interface Kept {
  id: string;
  url: string;
  contentType: string | null;
  bytes: number;
}

/** The message's attachments once the media job has run (polled: it runs off the hot path). */
async function attachmentsOnceKept(
  svc: TestService,
  igsid: string,
  settled: (a: { kept?: Kept }[]) => boolean,
) {
  for (let i = 0; i < 100; i++) {
    const { messages } = await threadOf(svc, igsid);
    const attachments = (messages[0]?.attachments ?? []) as { kept?: Kept }[];
    if (settled(attachments)) return attachments;
    const jobs = await svc.store.db
      .selectFrom('jobs')
      .select('status')
      .where('queue', '=', 'media')
      .where('status', 'in', ['ready', 'active'])
      .execute();
    if (jobs.length === 0 && i > 5) return attachments;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the media job did not run');
}

const cdn = new Cdn();
let svc: TestService;
beforeAll(async () => {
  await cdn.start();
  svc = await startTestService({ IGDM_MEDIA_MAX_FILE_MB: '1', IGDM_MEDIA_MAX_MB: '2' });
});
afterAll(async () => {
  await svc?.stop();
  await cdn.stop();
});

describe('copies of inbound media', () => {
  it('an image is kept, named on the message, and served with the key after its link expired', async () => {
    const igsid = newIgsid();
    const link = cdn.put(`/v/t51/${igsid}.png`, PNG);
    await deliver(
      svc,
      igBody([messageItem(igsid, Date.now(), { attachments: [{ type: 'image', payload: { url: link } }] })]),
    );
    const [image] = await attachmentsOnceKept(svc, igsid, (a) => a[0]?.kept !== undefined);
    expect(image).toMatchObject({
      type: 'image',
      payload: { url: link },
      kept: { url: expect.stringMatching(/^\/v1\/media\/med_/), contentType: 'image/png', bytes: PNG.length },
    });

    cdn.files.clear(); // Meta's link expires
    expect((await fetch(link)).status).toBe(404);
    const copy = await fetch(`${svc.url}${image!.kept!.url}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(copy.status).toBe(200);
    expect(copy.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await copy.arrayBuffer())).toEqual(PNG);
    // Not without the key.
    expect((await fetch(`${svc.url}${image!.kept!.url}`)).status).toBe(401);
  });

  it('a link that already answers an error, and a file over IGDM_MEDIA_MAX_FILE_MB, give no copy', async () => {
    const igsid = newIgsid();
    const big = cdn.put(`/v/t42/${igsid}.mp4`, Buffer.alloc(1024 * 1024 + 1, 1), 'video/mp4');
    await deliver(
      svc,
      igBody([
        messageItem(igsid, Date.now(), {
          attachments: [
            { type: 'image', payload: { url: `${cdn.url}/gone-${igsid}.png` } },
            { type: 'video', payload: { url: big } },
          ],
        }),
      ]),
    );
    const attachments = await attachmentsOnceKept(svc, igsid, () => false);
    expect(attachments.map((a) => a.kept)).toEqual([undefined, undefined]);
    const rows = await svc.store.db
      .selectFrom('keptMedia')
      .select(['attachmentIndex', 'status', 'error'])
      .where('status', '!=', 'kept')
      .orderBy('attachmentIndex')
      .execute();
    expect(rows.filter((r) => r.error?.includes('HTTP 404') || r.status === 'too_large')).toHaveLength(2);
    expect(rows.map((r) => r.status).sort()).toEqual(['failed', 'too_large']);
  });

  it('past IGDM_MEDIA_MAX_MB the oldest copies go', async () => {
    const copies: Kept[] = [];
    for (let i = 0; i < 3; i++) {
      const igsid = newIgsid();
      const link = cdn.put(`/v/big/${igsid}.jpg`, Buffer.alloc(900 * 1024, i), 'image/jpeg');
      await deliver(
        svc,
        igBody([
          messageItem(igsid, Date.now(), { attachments: [{ type: 'image', payload: { url: link } }] }),
        ]),
      );
      const [a] = await attachmentsOnceKept(svc, igsid, (x) => x[0]?.kept !== undefined);
      copies.push(a!.kept!);
    }
    // 3 × 900 KiB (and the first test's image) in a cap of 2 MiB: the oldest went (the keeper trims
    // once the third copy is saved, just after the message shows it kept).
    const statuses = () => Promise.all(copies.map((c) => svc.api(c.url).then((r) => r.status)));
    const deadline = Date.now() + 5000;
    while ((await statuses())[0] !== 404 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect(await statuses()).toEqual([404, 200, 200]);
  });

  it('erasing the contact removes their copies, files included', async () => {
    const igsid = newIgsid();
    const link = cdn.put(`/v/t51/erase-${igsid}.png`, PNG);
    await deliver(
      svc,
      igBody([messageItem(igsid, Date.now(), { attachments: [{ type: 'image', payload: { url: link } }] })]),
    );
    const [image] = await attachmentsOnceKept(svc, igsid, (a) => a[0]?.kept !== undefined);
    const row = await svc.store.db
      .selectFrom('keptMedia')
      .select('file')
      .where('id', '=', image!.kept!.id)
      .executeTakeFirstOrThrow();
    expect(existsSync(row.file!)).toBe(true);
    const { conversation } = await threadOf(svc, igsid);
    const erased = await callApi(svc, 'DELETE', `/v1/contacts/${conversation.contact.id}`);
    expect(erased.status).toBe(200);
    expect(erased.body.counts.media).toBe(1);
    expect(existsSync(row.file!)).toBe(false);
    expect((await callApi(svc, 'GET', image!.kept!.url)).status).toBe(404);
  });
});

describe('a download in flight when igdm stops', () => {
  it('stops without waiting for it, and the copy is made at the next start', async () => {
    // A CDN that takes the request and answers only once told to.
    let answering = false;
    let asked = 0;
    let abandoned = 0;
    const slow = http.createServer((_req, res) => {
      if (answering) {
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length }).end(PNG);
        return;
      }
      asked++;
      res.on('close', () => abandoned++);
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const link = `http://127.0.0.1:${(slow.address() as AddressInfo).port}/v/t51/slow.png`;
    const dir = mkdtempSync(join(tmpdir(), 'igdm-media-stop-'));
    const env = { IGDM_MEDIA_MAX_FILE_MB: '1', IGDM_MEDIA_MAX_MB: '2' };
    const first = await startTestService(env, dir);
    let second: TestService | undefined;
    try {
      const igsid = newIgsid();
      await deliver(
        first,
        igBody([
          messageItem(igsid, Date.now(), { attachments: [{ type: 'image', payload: { url: link } }] }),
        ]),
      );
      for (let i = 0; i < 100 && asked === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(asked).toBe(1);
      // The CDN has not answered: only a stop that abandons the download ends (a fetch's own limit is
      // 30 s, this test's time).
      await first.stop();
      for (let i = 0; i < 40 && abandoned === 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(abandoned).toBe(1);

      // The job was given back, not given up: the next start downloads it.
      answering = true;
      second = await startTestService(env, dir);
      const [image] = await attachmentsOnceKept(second, igsid, (a) => a[0]?.kept !== undefined);
      expect(image?.kept).toMatchObject({ contentType: 'image/png', bytes: PNG.length });
    } finally {
      await first.stop();
      await second?.stop();
      slow.closeAllConnections();
      await new Promise((resolve) => slow.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
