import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Kysely } from 'kysely';
import type { Logger } from '../log.ts';
import { type Job, RetryLater } from '../queue/queue.ts';
import { keptMediaIdOf } from '../store/ids.ts';
import { findKeptMedia, saveKeptMedia, trimKeptMedia } from '../store/kept-media.ts';
import type { Database } from '../store/schema.ts';
import type { MediaJob } from './jobs.ts';

// Copies of inbound media. Meta's CDN links expire (a story mention's within a day), so each
// inbound message with attachments gets a job on the MEDIA_QUEUE, added with the message in the
// projector's transaction; the job fetches every attachment's link into the data folder, off the
// path of webhooks and replies. A link that fails (the network, Meta's 5xx) is tried again with the
// queue's backoff; one Meta answers 4xx for, or a file over the size cap, is recorded as such. The
// copies together take at most a cap: past it, the oldest go. The API serves a copy with the key
// (api/media.ts) and the message's attachment names it (`kept`); erasing a contact removes theirs.

export interface KeeperOptions {
  db: Kysely<Database>;
  /** Where the copies go (the data folder's `media`). */
  dir: string;
  /** The most one file may take, and all of them together (0: nothing is kept). */
  maxFileBytes: number;
  maxTotalBytes: number;
  log: Logger;
  timeoutMs?: number;
}

/** Tries per message (the queue's backoff between them: about 1 s, then 2 s). */
const TRIES = 3;

/** Why a link gives no copy, for good: not worth trying again. */
class NotKept extends Error {
  readonly status: 'failed' | 'too_large';
  constructor(status: 'failed' | 'too_large', message: string) {
    super(message);
    this.status = status;
  }
}

export class MediaKeeper {
  readonly #o: KeeperOptions;

  constructor(options: KeeperOptions) {
    this.#o = options;
  }

  /**
   * The MEDIA_QUEUE's handler. A download in flight when the queue closes (`stopping`) is abandoned:
   * its job runs again at the next start, the attempt given back.
   */
  readonly handle = async (job: Job<MediaJob>, stopping: AbortSignal) => {
    const { db } = this.#o;
    if (this.#o.maxTotalBytes === 0) return { kept: 0, skipped: 'IGDM_MEDIA_MAX_MB is 0' };
    const m = await db
      .selectFrom('messages')
      .select(['id', 'channelId', 'conversationId', 'attachments'])
      .where('id', '=', job.payload.messageId)
      .executeTakeFirst();
    if (!m) return { kept: 0, skipped: 'the message is gone (erased)' };
    const attachments = JSON.parse(m.attachments) as { url?: string }[];
    let kept = 0;
    const notKept: string[] = [];
    for (const [index, a] of attachments.entries()) {
      if (!a.url || !/^https?:\/\//.test(a.url)) continue;
      const id = keptMediaIdOf(m.id, index);
      if (await findKeptMedia(db, id)) continue; // an earlier attempt of this job kept it
      const row = {
        id,
        channelId: m.channelId,
        conversationId: m.conversationId,
        messageId: m.id,
        attachmentIndex: index,
        createdAt: Date.now(),
      };
      try {
        const { file, contentType, bytes } = await this.#fetch(a.url, id, stopping);
        // Erased meanwhile: nothing of theirs is kept.
        if (!(await db.selectFrom('messages').select('id').where('id', '=', m.id).executeTakeFirst())) {
          await rm(file, { force: true });
          return { kept, skipped: 'the message is gone (erased)' };
        }
        await saveKeptMedia(db, { ...row, status: 'kept', file, contentType, bytes, error: null });
        kept++;
      } catch (caught) {
        if (stopping.aborted) throw new RetryLater(0, 'igdm is stopping');
        // A failure that may pass (the network, Meta's 5xx) is tried again, TRIES times in all.
        if (!(caught instanceof NotKept) && job.attempts < TRIES) throw caught;
        const err =
          caught instanceof NotKept
            ? caught
            : new NotKept('failed', `after ${TRIES} tries: ${(caught as Error).message}`);
        await saveKeptMedia(db, {
          ...row,
          status: err.status,
          file: null,
          contentType: null,
          bytes: 0,
          error: err.message,
        });
        notKept.push(`${index}: ${err.message}`);
      }
    }
    const trimmed = await trimKeptMedia(db, this.#o.maxTotalBytes);
    if (trimmed)
      this.#o.log.info({ trimmed }, 'kept media: the oldest copies removed to stay within IGDM_MEDIA_MAX_MB');
    return { kept, ...(notKept.length && { notKept }) };
  };

  async #fetch(
    url: string,
    id: string,
    stopping: AbortSignal,
  ): Promise<{ file: string; contentType: string | null; bytes: number }> {
    const { dir, maxFileBytes } = this.#o;
    const res = await fetch(url, {
      signal: AbortSignal.any([stopping, AbortSignal.timeout(this.#o.timeoutMs ?? 30_000)]),
      redirect: 'follow',
    });
    if (res.status >= 400 && res.status < 500) {
      await res.body?.cancel();
      throw new NotKept('failed', `the link answered HTTP ${res.status}`);
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new Error(`the link answered HTTP ${res.status}`);
    }
    const length = Number(res.headers.get('content-length') ?? Number.NaN);
    if (length > maxFileBytes) {
      await res.body.cancel();
      throw new NotKept('too_large', `${length} bytes, over IGDM_MEDIA_MAX_FILE_MB`);
    }
    await mkdir(dir, { recursive: true });
    const file = join(dir, id);
    let bytes = 0;
    const cap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        if (bytes > maxFileBytes)
          done(new NotKept('too_large', `over ${maxFileBytes} bytes (IGDM_MEDIA_MAX_FILE_MB)`));
        else done(null, chunk);
      },
    });
    try {
      await pipeline(
        Readable.fromWeb(res.body as import('node:stream/web').ReadableStream),
        cap,
        createWriteStream(file),
      );
    } catch (err) {
      await rm(file, { force: true });
      throw err;
    }
    return { file, contentType: res.headers.get('content-type'), bytes };
  }
}
