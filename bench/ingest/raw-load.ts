// A lean HTTP/1.1 load generator on raw keep-alive sockets (one request in flight on each, like
// autocannon with pipelining 1): open loop at a fixed rate, or closed loop as fast as answers come.
//
// Open loop is what the half-load phase needs: autocannon's `overallRate` gives every connection a quota per one-second window that it spends
// back to back as fast as the server answers, then idles: at half of the peak rate the server sees
// a full-speed burst for about half of each second, so latency "at half load" is latency at peak.
// Here requests are released evenly, a few per 1 ms tick, onto the connections. A request's latency
// runs from its release to the end of its response, so time spent waiting for a free connection
// counts (no coordinated omission). An optional warm-up at the same rate opens the connections and
// warms the JIT before measuring.
//
// Closed loop (no rate) sends the next request on a connection as soon as its answer arrives. It
// costs about half the CPU per request of autocannon's dynamic-request path, which matters when
// the generator and the server share two cores (BENCH_LOADER=raw).
import { connect, type Socket } from 'node:net';
import { createHistogram } from 'node:perf_hooks';
import type { SignedBody } from './payloads.ts';

export interface RawLoadOptions {
  host: string;
  port: number;
  path: string;
  /** Requests per second; undefined for closed loop. */
  rate?: number;
  durationS: number;
  /** Seconds at the same rate before the measured window; not counted except for errors. */
  warmupS?: number;
  connections: number;
  timeoutS?: number;
  next: () => SignedBody;
}

export interface RawLoadResult {
  targetRate: number | undefined;
  durationS: number;
  /** Released and sent, warm-up included. */
  released: number;
  sent: number;
  /** Responses and 2xx responses to requests released in the measured window. */
  completed: number;
  ok: number;
  /** Non-2xx responses, errors and timeouts, warm-up included. */
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Released but never sent by the end, because every connection stayed busy. */
  unsent: number;
  achievedRate: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

interface Conn {
  socket: Socket;
  busy: boolean;
  releasedAt: number;
  sentAt: number;
  buf: Buffer | null;
  untilClose: boolean;
  untilCloseStatus: number;
}

export function runRawLoad(options: RawLoadOptions): Promise<RawLoadResult> {
  const { host, port, path, rate, durationS, connections } = options;
  const timeoutMs = (options.timeoutS ?? 10) * 1000;
  const histogram = createHistogram();
  const pending: number[] = [];
  let pendingHead = 0;
  const idle: Conn[] = [];
  const conns = new Set<Conn>();
  let released = 0;
  let sent = 0;
  let completed = 0;
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let timeouts = 0;
  let stopping = false;
  let finished = false;
  const t0 = performance.now();
  const measureFrom = t0 + (options.warmupS ?? 0) * 1000;
  const end = measureFrom + durationS * 1000;

  return new Promise((resolve) => {
    const open = (): void => {
      const socket = connect({ host, port, noDelay: true });
      const conn: Conn = {
        socket,
        busy: false,
        releasedAt: 0,
        sentAt: 0,
        buf: null,
        untilClose: false,
        untilCloseStatus: 0,
      };
      conns.add(conn);
      socket.on('data', (chunk: Buffer) => onData(conn, chunk));
      socket.on('error', () => {});
      socket.on('close', () => {
        conns.delete(conn);
        const at = idle.indexOf(conn);
        if (at >= 0) idle.splice(at, 1);
        if (conn.busy) {
          if (conn.untilClose) finish(conn, conn.untilCloseStatus);
          else errors++;
          conn.busy = false;
        }
        if (!stopping) setTimeout(open, conn.sentAt === 0 ? 50 : 0);
      });
      idle.push(conn);
    };

    const onData = (conn: Conn, chunk: Buffer): void => {
      if (conn.untilClose) return;
      let buf = conn.buf === null ? chunk : Buffer.concat([conn.buf, chunk]);
      for (;;) {
        const headEnd = buf.indexOf('\r\n\r\n');
        if (headEnd < 0) break;
        const head = buf.toString('latin1', 0, headEnd);
        const status = Number(head.slice(9, 12));
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        let endAt: number;
        if (length !== null) {
          endAt = headEnd + 4 + Number(length[1]);
          if (buf.length < endAt) break;
        } else if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) {
          const last = buf.indexOf('\r\n0\r\n\r\n', headEnd + 2);
          if (last < 0) break;
          endAt = last + 7;
        } else if (status === 204 || status === 304 || (status >= 100 && status < 200)) {
          endAt = headEnd + 4;
        } else {
          conn.untilClose = true;
          conn.untilCloseStatus = status;
          conn.buf = null;
          return;
        }
        buf = buf.subarray(endAt);
        if (/\r\nconnection:\s*close/i.test(head)) {
          conn.socket.destroy(); // before finish(), so the connection is not reused
          conn.buf = null;
          if (conn.busy) finish(conn, status);
          return;
        }
        if (conn.busy) finish(conn, status);
      }
      conn.buf = buf.length === 0 ? null : buf;
    };

    const finish = (conn: Conn, status: number): void => {
      conn.busy = false;
      const good = status >= 200 && status < 300;
      if (!good) non2xx++;
      if (conn.releasedAt >= measureFrom) {
        completed++;
        if (good) {
          ok++;
          histogram.record(Math.max(1, Math.round((performance.now() - conn.releasedAt) * 1000)));
        }
      }
      if (!conn.untilClose && !conn.socket.destroyed) idle.push(conn);
      dispatch();
    };

    const send = (conn: Conn, releasedAt: number): void => {
      const { body, signature } = options.next();
      conn.busy = true;
      conn.releasedAt = releasedAt;
      conn.sentAt = performance.now();
      const head =
        `POST ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: keep-alive\r\n` +
        `Content-Type: application/json\r\nUser-Agent: facebookexternalua\r\n` +
        `X-Hub-Signature-256: ${signature}\r\nContent-Length: ${body.length}\r\n\r\n`;
      conn.socket.cork();
      conn.socket.write(head, 'latin1');
      conn.socket.write(body);
      conn.socket.uncork();
      sent++;
    };

    const dispatch = (): void => {
      if (rate === undefined) {
        if (stopping || idle.length === 0) return;
        const now = performance.now();
        if (now >= end) stopping = true;
        else while (idle.length > 0) send(idle.pop()!, now);
        return;
      }
      while (pendingHead < pending.length && idle.length > 0) {
        send(idle.pop()!, pending[pendingHead++]!);
      }
      if (pendingHead > 4096 && pendingHead * 2 > pending.length) {
        pending.splice(0, pendingHead);
        pendingHead = 0;
      }
    };

    const tick = (): void => {
      const now = performance.now();
      if (!stopping && rate === undefined) {
        dispatch();
        if (now >= end) stopping = true;
      } else if (!stopping && rate !== undefined) {
        const due = Math.floor((Math.min(now, end) - t0) * (rate / 1000));
        while (released < due) {
          pending.push(now);
          released++;
        }
        dispatch();
        if (now >= end) stopping = true;
      }
      for (const conn of conns) {
        if (conn.busy && now - conn.sentAt > timeoutMs) {
          timeouts++;
          errors++;
          conn.busy = false;
          conn.socket.destroy();
        }
      }
      let busy = 0;
      for (const conn of conns) if (conn.busy) busy++;
      if (stopping && !finished && (busy === 0 || now > end + Math.min(timeoutMs, 5000))) done();
    };

    const done = (): void => {
      finished = true;
      clearInterval(timer);
      for (const conn of conns) {
        if (conn.busy) {
          timeouts++;
          errors++;
          conn.busy = false;
        }
        conn.socket.destroy();
      }
      const count = histogram.count;
      resolve({
        targetRate: rate,
        durationS,
        released,
        sent,
        completed,
        ok,
        non2xx,
        errors,
        timeouts,
        unsent: pending.length - pendingHead,
        achievedRate: completed / durationS,
        latencyMs: {
          p50: count > 0 ? histogram.percentile(50) / 1000 : 0,
          p90: count > 0 ? histogram.percentile(90) / 1000 : 0,
          p99: count > 0 ? histogram.percentile(99) / 1000 : 0,
          max: count > 0 ? histogram.max / 1000 : 0,
          mean: count > 0 ? histogram.mean / 1000 : 0,
        },
      });
    };

    for (let i = 0; i < connections; i++) open();
    const timer = setInterval(tick, 1);
  });
}
