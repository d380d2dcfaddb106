import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// A local fake of the two LLM APIs the providers speak, on 127.0.0.1 (port 0): the minimal OpenAI
// `POST /v1/chat/completions` and Anthropic `POST /v1/messages` JSON responses. Every request is
// recorded; `answer` decides what the next one gets.

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export interface Answer {
  /** The assistant's text. */
  text?: string;
  status?: number;
  /** Answer after this many ms. */
  delayMs?: number;
}

export interface FakeLlm {
  /** e.g. `http://127.0.0.1:PORT/v1` for OpenAI, `http://127.0.0.1:PORT` for Anthropic. */
  origin: string;
  received: Received[];
  answer: (req: Received) => Answer;
  close(): Promise<void>;
}

export async function startFakeLlm(
  answer: (req: Received) => Answer = () => ({ text: 'ok' }),
): Promise<FakeLlm> {
  const fake = { received: [] as Received[], answer } as FakeLlm;
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const received: Received = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body: raw ? (JSON.parse(raw) as Record<string, unknown>) : {},
    };
    fake.received.push(received);
    const a = fake.answer(received);
    if (a.delayMs) await new Promise((r) => setTimeout(r, a.delayMs));
    if (res.destroyed) return;
    const status = a.status ?? 200;
    const model = String(received.body['model'] ?? 'fake');
    let body: unknown;
    if (status !== 200) body = { error: { type: 'server_error', message: 'fake failure' } };
    else if (received.path === '/v1/chat/completions')
      body = {
        id: 'chatcmpl-fake',
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: a.text ?? '' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      };
    else if (received.path === '/v1/messages')
      body = {
        id: 'msg_fake',
        type: 'message',
        role: 'assistant',
        model,
        content: a.text ? [{ type: 'text', text: a.text }] : [],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 1, output_tokens: 1 },
      };
    else {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  fake.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return fake;
}
