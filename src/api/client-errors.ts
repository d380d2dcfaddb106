import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError } from 'fastify';
import type { Logger } from '../log.ts';

// Requests Node's HTTP server gives up on before Fastify sees them: malformed, too slow, headers too
// large. Answered as Node and Fastify would (400, 408, 431, 413), in igdm's error shape. Only the
// error's code is logged: the error itself carries the raw bytes of the request, secrets included.

const ANSWERS: Record<string, [status: number, code: string, message: string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'request_timeout', 'The request did not arrive in time'],
  HPE_HEADER_OVERFLOW: [431, 'headers_too_large', 'The request headers are too large'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'chunk_extensions_too_large', 'The chunk extensions are too large'],
};
const MALFORMED: [number, string, string] = [400, 'bad_request', 'The request is not valid HTTP/1.1'];

export function clientErrorHandler(log: Logger) {
  return (err: ConnectionError, socket: Socket) => {
    // A reset connection is gone already: nothing to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, code, message] = ANSWERS[err.code] ?? MALFORMED;
    log.trace({ code: err.code, status }, 'client error');
    // As Node does: answer unless a response to this request has started already.
    const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) {
      const body = JSON.stringify({ error: { code, message } });
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
