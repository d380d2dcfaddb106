import { errorOf } from './errors.ts';

// One request to igdm: the key as a bearer token, JSON in (or a file's bytes) and out, and an
// IgdmError for every answer that is not a success.

export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

export interface TransportOptions {
  /** Where igdm answers, e.g. `http://localhost:3000`. */
  baseUrl: string;
  /** An igdm API key (`IGDM_API_KEY` or one made through /v1/api-keys). */
  apiKey: string;
  /** A fetch to use instead of the global one (a proxy's, a test's). */
  fetch?: Fetch;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface Request {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  path: string;
  query?: Query;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as they are (a file's bytes), with their content type. */
  bytes?: { data: Blob | Uint8Array; contentType: string };
  /** Aborts the request (it then rejects with the signal's reason). */
  signal?: AbortSignal;
}

export class Transport {
  readonly #base: string;
  readonly #key: string;
  readonly #fetch: Fetch;

  constructor(options: TransportOptions) {
    if (!options.baseUrl) throw new TypeError('baseUrl is required');
    if (!options.apiKey) throw new TypeError('apiKey is required');
    this.#base = options.baseUrl.replace(/\/+$/, '');
    this.#key = options.apiKey;
    // Bound: a bare global fetch called as a method of another object throws in some runtimes.
    this.#fetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
  }

  async request<T>(req: Request): Promise<T> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#key}`,
      accept: 'application/json',
    };
    let sent: RequestInit['body'];
    if (req.bytes) {
      headers['content-type'] = req.bytes.contentType;
      sent = req.bytes.data as RequestInit['body'];
    } else if (req.body !== undefined) {
      headers['content-type'] = 'application/json';
      sent = JSON.stringify(req.body);
    }
    const res = await this.#fetch(this.#base + req.path + queryString(req.query), {
      method: req.method,
      headers,
      ...(sent !== undefined && { body: sent }),
      ...(req.signal && { signal: req.signal }),
    });
    const text = await res.text();
    const body = parse(text);
    if (!res.ok) throw errorOf(res.status, body);
    return body as T;
  }

  /** A GET of bytes (a file): its body, or an IgdmError. */
  async download(path: string): Promise<Blob> {
    const res = await this.#fetch(this.#base + path, {
      method: 'GET',
      headers: { authorization: `Bearer ${this.#key}` },
    });
    if (!res.ok) throw errorOf(res.status, parse(await res.text()));
    return res.blob();
  }

  /** A streaming GET (Server-Sent Events): the open answer, or an IgdmError. */
  async stream(path: string, query: Query, headers: Record<string, string>, signal: AbortSignal) {
    const res = await this.#fetch(this.#base + path + queryString(query), {
      method: 'GET',
      headers: { authorization: `Bearer ${this.#key}`, accept: 'text/event-stream', ...headers },
      signal,
    });
    if (!res.ok) throw errorOf(res.status, parse(await res.text()));
    return res;
  }
}

/** A path segment: ids are the caller's, never trusted to be URL-safe. */
export const seg = (id: string | number) => encodeURIComponent(String(id));

function queryString(query: Query | undefined): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

function parse(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
