import type { FastifyReply } from 'fastify';
import type { GraphAnswer } from './errors.ts';
import type { HeldRequests, PendingFailure } from './failures.ts';
import { metaJson } from './wire.ts';

// Failures after delivery: the call did what it asked (a message went to the customer), and only
// its answer is lost or spoiled on the way back, as a slow or broken network or front end does. A
// gateway cannot tell from the answer whether the message went: it must ask (Meta's echo, the
// Conversations API) before it sends again.

const DEFAULT_HUGE_BYTES = 64 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

/** What became of a spoiled answer: bytes written, and whether the client closed before the end. */
export interface SpoiledAnswer {
  bytes: number;
  cut: boolean;
}

export function spoilAnswer(
  reply: FastifyReply,
  answer: GraphAnswer,
  failure: PendingFailure,
  ctx: { held: HeldRequests; timeoutHoldMs: number; headers: Record<string, string> },
): Promise<SpoiledAnswer> {
  const whole = answer.body === undefined ? '' : metaJson(answer.body);
  const headers = { ...ctx.headers, ...answer.headers };
  switch (failure.kind) {
    case 'late_answer': {
      let bytes = 0;
      return ctx.held
        .hold(reply, failure.delayMs ?? ctx.timeoutHoldMs, (raw) => {
          bytes = Buffer.byteLength(whole);
          raw.writeHead(answer.status, { ...headers, 'content-type': 'application/json' }).end(whole);
        })
        .then(() => ({ bytes, cut: bytes === 0 }));
    }
    case 'garbled_answer': {
      const garble = failure.garble ?? 'truncated';
      const [type, text] =
        garble === 'html'
          ? ['text/html', '<html><body><h1>502 Bad Gateway</h1></body></html>']
          : ['application/json', garble === 'empty' ? '' : whole.slice(0, Math.floor(whole.length / 2))];
      reply.hijack();
      reply.raw.writeHead(200, { ...headers, 'content-type': type }).end(text);
      return Promise.resolve({ bytes: Buffer.byteLength(text), cut: false });
    }
    case 'huge_answer':
      return stream(reply, whole, failure.sizeBytes ?? DEFAULT_HUGE_BYTES, headers);
    default: // cut_answer
      reply.hijack();
      reply.raw.destroy();
      return Promise.resolve({ bytes: 0, cut: true });
  }
}

/**
 * The real answer with padding inside it, `size` bytes in all, written as fast as the client reads.
 * A client that caps what it reads closes the connection early: `cut`.
 */
function stream(
  reply: FastifyReply,
  whole: string,
  size: number,
  headers: Record<string, string>,
): Promise<SpoiledAnswer> {
  reply.hijack();
  const raw = reply.raw;
  const head = whole.startsWith('{') ? `{"padding":"` : '';
  const tail = whole.startsWith('{') ? `",${whole.slice(1)}` : whole;
  let left = Math.max(0, size - head.length - tail.length);
  const length = head.length + left + tail.length; // metaJson's answers are ASCII
  let bytes = 0;
  return new Promise((resolve) => {
    const finish = (cut: boolean) => resolve({ bytes, cut });
    raw.once('close', () => finish(!raw.writableFinished));
    raw.writeHead(200, { ...headers, 'content-type': 'application/json', 'content-length': String(length) });
    const write = (data: string | Buffer) => {
      bytes += Buffer.byteLength(data);
      return raw.write(data);
    };
    write(head);
    const pump = () => {
      while (left > 0 && !raw.destroyed) {
        const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
        left -= chunk.length;
        if (!write(chunk)) return void raw.once('drain', pump);
      }
      if (!raw.destroyed) raw.end(tail, () => (bytes += Buffer.byteLength(tail)));
    };
    pump();
  });
}
