// (b) The seed's shape: Express 5 with `express.json({ verify })` keeping the raw body for the
// signature check, then 200. Nothing is stored.
import type { IncomingMessage } from 'node:http';
import express from 'express';
import { signatureValid } from './signature.ts';

type RawBodyRequest = IncomingMessage & { rawBody?: Buffer };

const port = Number(process.env['PORT'] ?? 3000);
const host = process.env['HOST'] ?? '127.0.0.1';
const secret = process.env['APP_SECRET'] ?? process.env['META_APP_SECRET'] ?? '';
if (secret === '') {
  console.error('express: set APP_SECRET');
  process.exit(2);
}

const app = express();
app.use(
  express.json({
    verify: (req, _res, buf) => {
      (req as RawBodyRequest).rawBody = buf;
    },
  }),
);
app.get('/readyz', (_req, res) => {
  res.send('ok');
});
app.post('/webhooks/meta', (req, res) => {
  const raw = (req as RawBodyRequest).rawBody;
  if (raw === undefined || !signatureValid(secret, raw, req.get('x-hub-signature-256'))) {
    res.status(401).send('invalid signature');
    return;
  }
  res.status(200).send('EVENT_RECEIVED');
});

const server = app.listen(port, host);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
// The benchmark runs servers in their own process group; leave if it dies without stopping us.
const parent = process.ppid;
setInterval(() => process.ppid !== parent && process.exit(0), 1000).unref();
