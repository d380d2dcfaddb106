import { IgdmError } from './errors.ts';
import type { Transport } from './transport.ts';
import type { EventName, IgdmEvent } from './types.ts';

// The event stream (GET /v1/events, Server-Sent Events), followed for as long as the subscription
// is open: when the connection drops it reconnects with the last event's id, so the handler sees
// every event once, in order. A refusal (a revoked key, a missing scope) ends it.

export interface SubscribeOptions {
  /** Only these events (message.received, message.sent ...). */
  types?: (EventName | (string & {}))[];
  channelId?: string;
  /** Start after this event id (default: from now). */
  after?: string;
  /** Told of each failure: a dropped connection (then it reconnects) or a refusal (then it ends). */
  onError?: (err: unknown) => void;
  /**
   * Told each time a connection opens (the first, and after each reconnect): from then on every new
   * event reaches the handler, so state read now (a GET) misses nothing.
   */
  onConnect?: () => void;
}

export interface Subscription {
  /** Stops following the stream. */
  close(): void;
  /** Settles once the subscription has ended (closed, or refused). */
  readonly done: Promise<void>;
}

const RECONNECT_MS = 3000;

export class Events {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  subscribe(options: SubscribeOptions, handler: (e: IgdmEvent) => void | Promise<void>): Subscription {
    const abort = new AbortController();
    let last = options.after;
    const filter = {
      ...(options.types && { types: options.types.join(',') }),
      ...(options.channelId && { channelId: options.channelId }),
    };
    const follow = async () => {
      while (!abort.signal.aborted) {
        try {
          // `after` is Last-Event-ID as a query parameter: where the last connection stopped.
          const res = await this.#t.stream('/v1/events', { ...filter, after: last }, {}, abort.signal);
          options.onConnect?.();
          for await (const e of parse(res.body!)) {
            await handler(e);
            last = e.id;
          }
        } catch (err) {
          if (abort.signal.aborted) return;
          options.onError?.(err);
          if (err instanceof IgdmError && err.status < 500) return;
        }
        await pause(RECONNECT_MS, abort.signal);
      }
    };
    const done = follow();
    return { close: () => abort.abort(), done };
  }
}

/** Waits `ms`, or less if the subscription is closed meanwhile. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The events of a stream, as they arrive. */
async function* parse(body: ReadableStream<Uint8Array>): AsyncGenerator<IgdmEvent> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      if (data) yield JSON.parse(data) as IgdmEvent;
    }
  }
}
