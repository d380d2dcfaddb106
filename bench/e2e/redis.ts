// A minimal Redis client (RESP2 over one socket, commands answered in order) for what the runner asks
// of the baseline's Redis: its PID (for its CPU), the length of the baseline's queue, and deleting the
// baseline's keys after a run. igdm has no Redis client among its dependencies, and the baseline's
// own (ioredis, in its folder) is not the runner's to import.
import net from 'node:net';

export type Reply = string | number | null | Reply[];

interface Pending {
  resolve: (reply: Reply) => void;
  reject: (error: Error) => void;
}

/** One reply parsed from `buf` at `at`: the value and where the next begins, or undefined if incomplete. */
function parse(buf: Buffer, at: number): { value: Reply | Error; next: number } | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.toString('utf8', at + 1, eol);
  switch (type) {
    case '+':
      return { value: line, next: eol + 2 };
    case '-':
      return { value: new Error(`Redis: ${line}`), next: eol + 2 };
    case ':':
      return { value: Number(line), next: eol + 2 };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next: eol + 2 };
      if (buf.length < eol + 2 + length + 2) return undefined;
      return { value: buf.toString('utf8', eol + 2, eol + 2 + length), next: eol + 2 + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next: eol + 2 };
      const items: Reply[] = [];
      let next = eol + 2;
      for (let i = 0; i < count; i++) {
        const item = parse(buf, next);
        if (item === undefined) return undefined;
        if (item.value instanceof Error) return item;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      return { value: new Error(`Redis: unexpected reply type ${JSON.stringify(type)}`), next: buf.length };
  }
}

export class RedisClient {
  readonly #socket: net.Socket;
  readonly #pending: Pending[] = [];
  #buffer: Buffer = Buffer.alloc(0);
  #closed = false;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(new Error('Redis connection closed')));
  }

  /** Connects to host:port, failing after `timeoutMs`. */
  static connect(address: string, timeoutMs = 3000): Promise<RedisClient> {
    const [host, port] = [
      address.slice(0, address.lastIndexOf(':')),
      address.slice(address.lastIndexOf(':') + 1),
    ];
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port: Number(port) });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no connection to Redis at ${address} in ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`no connection to Redis at ${address}: ${error.message}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new RedisClient(socket));
      });
    });
  }

  command(...args: (string | number)[]): Promise<Reply> {
    if (this.#closed) return Promise.reject(new Error('Redis connection closed'));
    const parts = [`*${args.length}\r\n`];
    for (const arg of args) {
      const s = String(arg);
      parts.push(`$${Buffer.byteLength(s)}\r\n${s}\r\n`);
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.#socket.write(parts.join(''));
    });
  }

  close(): void {
    this.#closed = true;
    this.#socket.end();
  }

  #receive(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    let at = 0;
    for (;;) {
      const reply = parse(this.#buffer, at);
      if (reply === undefined) break;
      at = reply.next;
      const pending = this.#pending.shift();
      if (reply.value instanceof Error) pending?.reject(reply.value);
      else pending?.resolve(reply.value);
    }
    this.#buffer = this.#buffer.subarray(at);
  }

  #fail(error: Error): void {
    this.#closed = true;
    for (const pending of this.#pending.splice(0)) pending.reject(error);
  }
}

/** The PID of the Redis server (INFO server's process_id). */
export async function redisPid(client: RedisClient): Promise<number> {
  const info = String(await client.command('INFO', 'server'));
  const match = /^process_id:(\d+)/m.exec(info);
  if (match === null) throw new Error('Redis INFO server gave no process_id');
  return Number(match[1]);
}

/** Deletes every key under `prefix:` (SCAN + UNLINK); returns how many. */
export async function deletePrefix(client: RedisClient, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = (await client.command('SCAN', cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)) as [
      string,
      string[],
    ];
    cursor = next;
    if (keys.length > 0) deleted += Number(await client.command('UNLINK', ...keys));
  } while (cursor !== '0');
  return deleted;
}
