import http from 'node:http';
import https from 'node:https';

// The HTTP client for calls that igdm (and its sandbox) make at a high rate: the Graph API, webhook
// deliveries. A failed call says whether the request had left in full: if it had, the server may
// have acted on it (a message delivered, then the answer lost), which the caller must not retry
// blindly.

export interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
  text: string;
}

/** An answer longer than this is not read (it is not one of Meta's): 4 MiB. */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

export type RequestFailure =
  /** No answer within the time allowed. */
  | 'timeout'
  /** The connection failed or was closed without a whole answer. */
  | 'network'
  /** The answer was longer than the cap, and was cut off unread. */
  | 'answer_too_large';

export class RequestFailed extends Error {
  readonly failure: RequestFailure;
  /**
   * Whether the whole request had been handed to the network: the server may have received it and
   * acted on it. False when it never left (connection refused, a DNS failure): safe to send again.
   */
  readonly sent: boolean;
  constructor(failure: RequestFailure, sent: boolean, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'RequestFailed';
    this.failure = failure;
    this.sent = sent;
  }
}

// Connections are kept open between calls (as fetch keeps them). node:http rather than fetch: a
// call costs about a quarter of fetch's CPU (~50 µs against ~200 µs here), and igdm makes hundreds
// a second on the thread that also receives the webhooks (BENCHMARKS.md, e2e).
const agents: Record<string, http.Agent> = {
  'http:': new http.Agent({ keepAlive: true }),
  'https:': new https.Agent({ keepAlive: true }),
};

/** One request; the signal covers the whole answer, body included. Rejects with RequestFailed. */
export function request(
  target: URL | string,
  options: {
    method: string;
    headers: Record<string, string>;
    body?: string | Uint8Array;
    signal: AbortSignal;
    maxAnswerBytes?: number;
  },
): Promise<Answer> {
  const { method, headers, body, signal } = options;
  const cap = options.maxAnswerBytes ?? MAX_ANSWER_BYTES;
  return new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = typeof target === 'string' ? new URL(target) : target;
    } catch (err) {
      return reject(new RequestFailed('network', false, `invalid URL: ${(err as Error).message}`, err));
    }
    const agent = agents[url.protocol];
    if (!agent) return reject(new RequestFailed('network', false, `unsupported protocol ${url.protocol}`));
    /** The whole request was handed to the network ('finish'), or an answer began. */
    let sent = false;
    const fail = (failure: RequestFailure, message: string, cause?: unknown) =>
      reject(new RequestFailed(failure, sent, message, cause));
    const lost = (cause: unknown) =>
      signal.aborted
        ? fail('timeout', 'no answer in time', cause)
        : fail('network', `the connection failed: ${(cause as Error).message ?? cause}`, cause);
    const transport = url.protocol === 'https:' ? https : http;
    const req = transport.request(
      url,
      {
        method,
        agent,
        signal,
        headers:
          body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      },
      (res) => {
        sent = true;
        const tooLarge = () => {
          fail('answer_too_large', `the answer is longer than ${cap} bytes`); // before destroy's own error
          res.destroy();
        };
        if (Number(res.headers['content-length'] ?? 0) > cap) return tooLarge();
        const chunks: Buffer[] = [];
        let length = 0;
        res.on('data', (c: Buffer) => {
          length += c.length;
          if (length > cap) return tooLarge();
          chunks.push(c);
        });
        res.on('error', lost);
        res.on('aborted', () => lost(new Error('the answer was cut off')));
        res.on('end', () => {
          const flat: Record<string, string | undefined> = {};
          for (const [k, v] of Object.entries(res.headers)) flat[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve({
            status: res.statusCode ?? 0,
            headers: flat,
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    req.on('finish', () => {
      sent = true;
    });
    req.on('error', lost);
    req.end(body);
  });
}
