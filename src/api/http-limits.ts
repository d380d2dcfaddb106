import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../log.ts';

// What one client may hold of the HTTP server, so that clients that send slowly (slowloris) or
// never close cannot take every connection, or every file descriptor, from Meta and the probes.

export interface HttpLimits {
  /** The whole request, headers and body, must arrive within this. */
  requestTimeoutMs: number;
  /** Connections held at once; keep it well below the process's open-file limit. */
  maxConnections: number;
}

/** A keep-alive connection is closed after this long idle: longer than reverse proxies usually keep theirs (60 s). */
const KEEP_ALIVE_MS = 72_000;
/** Headers come first and at once (Meta's do): they get at most this, within the request timeout. */
const HEADERS_TIMEOUT_MS = 10_000;

/**
 * Fastify's server options for these limits. Node enforces the request and headers timeouts only
 * when it checks its connections (every 30 s by default): here every second, or every quarter of a
 * shorter request timeout.
 */
export function serverTimeouts({ requestTimeoutMs }: HttpLimits) {
  return {
    requestTimeout: requestTimeoutMs,
    // While a request is answered: a connection on which nothing moves either way for this long.
    connectionTimeout: 2 * requestTimeoutMs,
    keepAliveTimeout: KEEP_ALIVE_MS,
    http: {
      headersTimeout: Math.min(HEADERS_TIMEOUT_MS, requestTimeoutMs),
      connectionsCheckingInterval: Math.min(1_000, Math.ceil(requestTimeoutMs / 4)),
    },
  };
}

interface Held {
  /** Requests on it whose response has not closed yet. */
  answering: number;
  /** The latest of them. */
  request: IncomingMessage | null;
}

/**
 * Holds at most `max` connections, and still admits a new client at the cap: the stalest connection
 * that is idle or still sending its request is closed to make room. A plain cap
 * (`server.maxConnections`) would refuse the health probe and Meta while slow clients hold every
 * slot. A connection whose request has arrived and is being answered is never closed; only when all
 * of them are is the new connection refused.
 */
export function capConnections(server: Server, max: number, log: Logger) {
  // Oldest first: a connection moves to the end when a request arrives on it and when it is answered.
  const held = new Map<Socket, Held>();
  const touch = (socket: Socket, state: Held) => {
    held.delete(socket);
    held.set(socket, state);
  };
  const warning = capWarning(max, log);

  const makeRoom = (): boolean => {
    for (const [socket, state] of held) {
      const busy = state.answering > 1 || (state.answering === 1 && state.request?.complete === true);
      if (busy) continue;
      held.delete(socket);
      socket.destroy();
      return true;
    }
    return false;
  };

  server.on('connection', (socket: Socket) => {
    if (held.size >= max) {
      const made = makeRoom();
      warning(made ? 'evicted' : 'refused');
      if (!made) {
        socket.destroy();
        return;
      }
    }
    held.set(socket, { answering: 0, request: null });
    socket.once('close', () => held.delete(socket));
  });

  server.on('request', (req: IncomingMessage, res) => {
    const socket = req.socket;
    const state = held.get(socket);
    if (!state) return;
    state.answering++;
    state.request = req;
    touch(socket, state);
    res.once('close', () => {
      state.answering--;
      if (held.get(socket) === state) touch(socket, state);
    });
  });
}

/**
 * One warning a minute at most while the cap is reached, with what it did meanwhile: connections
 * closed to admit new ones, and new ones refused because every connection was being answered.
 */
function capWarning(max: number, log: Logger) {
  let last = 0;
  const counts = { evicted: 0, refused: 0 };
  return (what: keyof typeof counts) => {
    counts[what]++;
    const now = Date.now();
    if (now - last < 60_000) return;
    last = now;
    log.warn(
      { maxConnections: max, ...counts },
      'connection cap reached (IGDM_MAX_CONNECTIONS): stale connections closed to admit new ones',
    );
    counts.evicted = 0;
    counts.refused = 0;
  };
}
