import http from 'node:http';
import https from 'node:https';

// The HTTP client for calls that igdm (and its sandbox) make at a high rate: the Graph API, webhook
// deliveries.

export interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
  text: string;
}

// Connections are kept open between calls (as fetch keeps them). node:http rather than fetch: a
// call costs about a quarter of fetch's CPU (~50 µs against ~200 µs here), and igdm makes hundreds
// a second on the thread that also receives the webhooks (BENCHMARKS.md, e2e).
const agents: Record<string, http.Agent> = {
  'http:': new http.Agent({ keepAlive: true }),
  'https:': new https.Agent({ keepAlive: true }),
};

/** One request; the signal covers the whole answer, body included. Rejects on a network failure. */
export function request(
  target: URL | string,
  options: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal },
): Promise<Answer> {
  const { method, headers, body, signal } = options;
  return new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = typeof target === 'string' ? new URL(target) : target;
    } catch (err) {
      return reject(err);
    }
    const agent = agents[url.protocol];
    if (!agent) return reject(new Error(`unsupported protocol ${url.protocol}`));
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
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('the answer was cut off')));
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
    req.on('error', reject);
    req.end(body);
  });
}
