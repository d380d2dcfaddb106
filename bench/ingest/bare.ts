// (a) The ceiling: a bare node:http server that reads the raw body, verifies the signature,
// parses the JSON and acknowledges. Nothing is stored.
import { createServer } from 'node:http';
import { signatureValid } from './signature.ts';

const port = Number(process.env['PORT'] ?? 3000);
const host = process.env['HOST'] ?? '127.0.0.1';
const secret = process.env['APP_SECRET'] ?? process.env['META_APP_SECRET'] ?? '';
if (secret === '') {
  console.error('bare: set APP_SECRET');
  process.exit(2);
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/readyz') {
    res.end('ok');
    return;
  }
  if (req.method !== 'POST' || req.url !== '/webhooks/meta') {
    res.statusCode = 404;
    res.end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    if (!signatureValid(secret, raw, req.headers['x-hub-signature-256'])) {
      res.statusCode = 401;
      res.end('invalid signature');
      return;
    }
    try {
      JSON.parse(raw.toString('utf8'));
    } catch {
      res.statusCode = 400;
      res.end('invalid JSON');
      return;
    }
    res.statusCode = 200;
    res.end('EVENT_RECEIVED');
  });
});

server.listen(port, host);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
// The benchmark runs servers in their own process group; leave if it dies without stopping us.
const parent = process.ppid;
setInterval(() => process.ppid !== parent && process.exit(0), 1000).unref();
