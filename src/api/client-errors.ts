import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError } from 'fastify';
import type { Logger } from '../log.ts';
import { type ApiError, errors } from './errors.ts';

// Requests Node's HTTP server gives up on before Fastify sees them: malformed, too slow, headers too
// large. Answered as Node and Fastify would (400, 408, 431, 413), in igdm's error shape. Only the
// error's code is logged: the error itself carries the raw bytes of the request, secrets included.

const ANSWERS: Record<string, () => ApiError> = {
  ERR_HTTP_REQUEST_TIMEOUT: errors.requestTimeout,
  HPE_HEADER_OVERFLOW: errors.headersTooLarge,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: errors.chunkExtensionsTooLarge,
};

export function clientErrorHandler(log: Logger) {
  return (err: ConnectionError, socket: Socket) => {
    // A reset connection is gone already: nothing to answer.
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const answer = (ANSWERS[err.code] ?? errors.malformedRequest)();
    const status = answer.statusCode;
    log.trace({ code: err.code, status }, 'client error');
    // As Node does: answer unless a response to this request has started already.
    const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) {
      const body = JSON.stringify(answer.body());
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
