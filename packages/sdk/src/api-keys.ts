import { seg, type Transport } from './transport.ts';
import type { ApiKey, NewApiKey, Scope } from './types.ts';

// API keys (an admin key's): made with scopes, channels and an agent; revoked at once.

export interface NewApiKeyRequest {
  name: string;
  /** The person the key belongs to: what they send is recorded as theirs. */
  agent?: string;
  /** The only channels it sees (all when not given). */
  channels?: string[];
  /** Default: read and send. */
  scopes?: Scope[];
}

export class ApiKeys {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  /** Makes a key; the answer's `key` is shown this once. */
  create(request: NewApiKeyRequest): Promise<NewApiKey> {
    return this.#t.request({ method: 'POST', path: '/v1/api-keys', body: request });
  }

  /** Every key, revoked ones included; no secrets (`hint` is a key's last 4 characters). */
  async list(): Promise<ApiKey[]> {
    const { data } = await this.#t.request<{ data: ApiKey[] }>({ method: 'GET', path: '/v1/api-keys' });
    return data;
  }

  /** Revoked at once. */
  async revoke(id: string): Promise<void> {
    await this.#t.request({ method: 'DELETE', path: `/v1/api-keys/${seg(id)}` });
  }
}
