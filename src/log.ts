import { pino } from 'pino';

// Structured logs. Anything that could carry a secret is redacted by path, wherever it appears, and
// errors and requests are logged field by field: only what is named below ever reaches a line.
export const REDACT = [
  'appSecret',
  'accessToken',
  'verifyToken',
  'apiKey',
  'secrets',
  'callbackSecret',
  '*.appSecret',
  '*.accessToken',
  '*.verifyToken',
  '*.apiKey',
  '*.secrets',
  '*.callbackSecret',
  'req.headers.authorization',
  'req.headers["x-hub-signature-256"]',
  'req.headers["x-hub-signature"]',
  'req.query["hub.verify_token"]',
];

export type Logger = pino.Logger;

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  statusCode?: unknown;
  stack?: unknown;
  cause?: unknown;
}

const text = (v: unknown) => (typeof v === 'string' ? v : undefined);

/**
 * An error as it is logged: what it is, where it came from, and its cause. Never its other
 * properties: a client error from Node's HTTP parser carries the raw request (`rawPacket`), with the
 * API key or the verify token in it, and pino's default serializer copies every one of them.
 */
export function serializeError(err: unknown, depth = 0): unknown {
  if (typeof err !== 'object' || err === null) return err;
  const e = err as ErrorLike;
  const ctor = (err as { constructor?: { name?: unknown } }).constructor;
  return {
    type: text(ctor?.name) ?? text(e.name) ?? 'Object',
    message: text(e.message),
    code: typeof e.code === 'string' || typeof e.code === 'number' ? e.code : undefined,
    statusCode: typeof e.statusCode === 'number' ? e.statusCode : undefined,
    stack: text(e.stack),
    cause: e.cause === undefined || depth >= 3 ? undefined : serializeError(e.cause, depth + 1),
  };
}

/** A request as it is logged: no headers, and no query string (the handshake's verify token is there). */
function serializeRequest(req: { method?: string; url?: string; ip?: string }) {
  return { method: req.method, path: req.url?.split('?')[0], remoteAddress: req.ip };
}

export function createLogger(level = 'info'): Logger {
  return pino({
    level,
    redact: { paths: REDACT, censor: '[redacted]' },
    serializers: { err: serializeError, req: serializeRequest },
  });
}
