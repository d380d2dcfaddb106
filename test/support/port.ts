import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

// A port for a server that starts later, or restarts on the same port (the sandbox's webhook URL
// names it). Drawn from outside the kernel's ephemeral range: an ephemeral port that is free now can
// be taken by any outgoing connection (of this test file or of another one running in parallel)
// before the server binds it, which failed CI with EADDRINUSE.

function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (low !== undefined && high !== undefined && low > 0 && high >= low) return [low, high];
  } catch {
    // not Linux: the usual default
  }
  return [32768, 60999];
}

function listensNow(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** A loopback port nobody listens on right now, outside the ephemeral range. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [low, high] = ephemeralRange();
  // the wider of the two ranges around the ephemeral one, above the privileged ports
  const [from, to] = low - 10_000 >= 65_535 - high ? [10_000, low - 1] : [high + 1, 65_535];
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from + 1));
    if (await listensNow(port, host)) return port;
  }
  throw new Error(`no free port in ${from}–${to} after 100 tries`);
}
