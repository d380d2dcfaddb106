import { pino } from 'pino';

// Structured logs. Anything that could carry a secret is redacted by path, wherever it appears.
export const REDACT = [
  'appSecret',
  'accessToken',
  'verifyToken',
  'apiKey',
  'secrets',
  '*.appSecret',
  '*.accessToken',
  '*.verifyToken',
  '*.apiKey',
  '*.secrets',
  'req.headers.authorization',
  'req.headers["x-hub-signature-256"]',
  'req.headers["x-hub-signature"]',
  'req.query["hub.verify_token"]',
];

export type Logger = pino.Logger;

export function createLogger(level = 'info'): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } });
}
