import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { type ApiKey, insertApiKey, liveApiKeys, revokeApiKey, type Scope } from '../store/api-keys.ts';
import type { Database } from '../store/schema.ts';
import { hashApiKey } from './api-key.ts';
import { errors, replyError } from './errors.ts';

// Who calls: every /v1 route needs `Authorization: Bearer <key>`, either IGDM_API_KEY (every scope,
// every channel) or a key made through the API (its scopes, its channels, its agent). Only hashes
// are kept. A route needs `read` for a GET and `send` otherwise, unless its config names a scope
// (admin routes). What a key may see is asked of the request's `principal`.

/** Who is calling, as their key says. */
export interface Principal {
  keyId: string | null;
  /** The key's name ("IGDM_API_KEY" for that one). */
  name: string;
  /** The person the key belongs to (recorded on what they do), or null. */
  agent: string | null;
  scopes: ReadonlySet<Scope>;
  /** The channels the key sees; null for all. */
  channels: ReadonlySet<string> | null;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope this route needs, if not the default (read for GET, send otherwise). */
    scope?: Scope;
    /** The route is about every channel (the queue's jobs, a new channel): no key limited to some. */
    allChannels?: true;
  }
  interface FastifyRequest {
    principal: Principal;
  }
}

const ADMIN: Principal = {
  keyId: null,
  name: 'IGDM_API_KEY',
  agent: null,
  scopes: new Set<Scope>(['read', 'send', 'admin']),
  channels: null,
};

/** Whether the caller may see the channel's conversations, messages and settings. */
export const sees = (req: FastifyRequest, channelId: string) =>
  req.principal.channels === null || req.principal.channels.has(channelId);

export class ApiKeys {
  readonly #db: Kysely<Database>;
  readonly #admin: Buffer;
  /** The keys in force, by hash: read at start, then kept as keys are made and revoked. */
  #live = new Map<string, ApiKey>();

  constructor(db: Kysely<Database>, adminKeyHash: Buffer) {
    this.#db = db;
    this.#admin = adminKeyHash;
  }

  async load(): Promise<void> {
    this.#live = await liveApiKeys(this.#db);
  }

  /** A new key; the key itself is in the answer only. */
  async create(
    fields: Pick<ApiKey, 'name' | 'agent' | 'channels' | 'scopes'>,
    now: number,
  ): Promise<ApiKey & { key: string }> {
    const key = `igdm_${randomBytes(24).toString('base64url')}`;
    const hash = hashApiKey(key).toString('hex');
    const made: ApiKey = {
      id: `key_${randomBytes(9).toString('base64url')}`,
      ...fields,
      hint: key.slice(-4),
      createdAt: now,
      revokedAt: null,
    };
    await insertApiKey(this.#db, made, hash);
    this.#live.set(hash, made);
    return { ...made, key };
  }

  /** Revoked at once; false when there is no such key in force. */
  async revoke(id: string, now: number): Promise<boolean> {
    if (!(await revokeApiKey(this.#db, id, now))) return false;
    for (const [hash, k] of this.#live) if (k.id === id) this.#live.delete(hash);
    return true;
  }

  /** Who the key is, or null for no such key in force. */
  principalOf(given: string): Principal | null {
    const hash = hashApiKey(given);
    if (timingSafeEqual(hash, this.#admin)) return ADMIN;
    // A lookup by the hash of a random 192-bit key: nothing to learn from its timing.
    const k = this.#live.get(hash.toString('hex'));
    if (!k) return null;
    return {
      keyId: k.id,
      name: k.name,
      agent: k.agent,
      scopes: new Set(k.scopes),
      channels: k.channels === null ? null : new Set(k.channels),
    };
  }
}

/** Every route of `app` needs a key in force with the route's scope. */
export function requireApiKey(app: FastifyInstance, keys: ApiKeys) {
  app.addHook('onRequest', async (req, reply) => {
    const auth = req.headers.authorization;
    const given = auth && /^bearer /i.test(auth) ? auth.slice(7).trim() : null;
    const principal = given ? keys.principalOf(given) : null;
    // Replied, not thrown: the hook also guards plugins with an error handler of their own (the sandbox).
    if (!principal) return replyError(reply.header('www-authenticate', 'Bearer'), errors.unauthorized());
    const scope = req.routeOptions.config?.scope ?? (req.method === 'GET' ? 'read' : 'send');
    if (!principal.scopes.has(scope)) return replyError(reply, errors.forbidden(scope));
    if (principal.channels !== null && req.routeOptions.config?.allChannels)
      return replyError(reply, errors.allChannelsOnly(req.method, req.routeOptions.url ?? req.url));
    req.principal = principal;
  });
}
