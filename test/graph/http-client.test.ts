import { createServer, type Server } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { MAX_ANSWER_BYTES, RequestFailed, request } from '../../src/http-client.ts';
import { freePort } from '../support/port.ts';

// The HTTP client says whether a failed request had left in full (the server may have acted on
// it), and reads no more of an answer than MAX_ANSWER_BYTES.

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
}

const post = (url: string, timeoutMs = 2000) =>
  request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"hello":"world"}',
    signal: AbortSignal.timeout(timeoutMs),
  });

async function failure(p: Promise<unknown>): Promise<RequestFailed> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RequestFailed);
  return err as RequestFailed;
}

it('connection refused: the request never left', async () => {
  const port = await freePort();
  const err = await failure(post(`http://127.0.0.1:${port}/`));
  expect(err).toMatchObject({ failure: 'network', sent: false });
});

it('a timeout after the server read the request: it had left', async () => {
  let received = '';
  const url = await serve((req) => req.on('data', (c) => (received += c))); // never answers
  const err = await failure(post(url, 300));
  expect(err).toMatchObject({ failure: 'timeout', sent: true });
  expect(received).toBe('{"hello":"world"}');
});

it('the connection cut after the request was read: it had left', async () => {
  const url = await serve((req) => req.on('end', () => req.socket.destroy()).resume());
  const err = await failure(post(url));
  expect(err).toMatchObject({ failure: 'network', sent: true });
});

it('an answer longer than the cap is cut off unread, whether announced or streamed', async () => {
  let written = 0;
  let closedEarly = false;
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const total = 64 * 1024 * 1024;
  const url = await serve((req, res) => {
    req.resume();
    const chunked = req.url === '/streamed';
    res.writeHead(200, chunked ? {} : { 'content-length': String(total) });
    res.on('close', () => (closedEarly = written < total));
    const pump = () => {
      while (written < total && !res.destroyed) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  for (const path of ['', 'streamed']) {
    written = 0;
    const err = await failure(post(`${url}${path}`, 10_000));
    expect(err).toMatchObject({ failure: 'answer_too_large', sent: true });
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(closedEarly).toBe(true);
  expect(written).toBeLessThan(MAX_ANSWER_BYTES * 4);
});

it('an answer within the cap is read whole', async () => {
  const body = 'y'.repeat(MAX_ANSWER_BYTES - 10);
  const url = await serve((req, res) => {
    req.resume();
    res.end(body);
  });
  const answer = await post(url);
  expect(answer.status).toBe(200);
  expect(answer.text.length).toBe(body.length);
});
