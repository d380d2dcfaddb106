import { Igdm, IgdmError, type Me } from '@igdm/sdk';
import { takeAnswered, takeEarly } from './early.ts';

// The signed-in agent: their API key (kept in localStorage under igdm.apiKey), the client made
// with it, and what igdm says about the key.

export const KEY_STORAGE = 'igdm.apiKey';

export const storedKey = () => localStorage.getItem(KEY_STORAGE);
export const storeKey = (key: string) => localStorage.setItem(KEY_STORAGE, key);
export const forgetKey = () => localStorage.removeItem(KEY_STORAGE);

let current: { key: string; client: Igdm } | null = null;

/** The client for a key (the same one while the key is). */
export function clientFor(apiKey: string): Igdm {
  if (current?.key !== apiKey)
    current = { key: apiKey, client: new Igdm({ baseUrl: location.origin, apiKey }) };
  return current.client;
}

/** Who the key is (GET /v1/me). */
export interface Identity {
  /** The agent's name, or the key's. */
  name: string;
  /** The person the key belongs to: what they send is recorded as theirs. */
  agent: string | null;
  scopes: string[];
  /** igdm runs its sandbox: the "simulate a customer" panel is shown. */
  sandbox: boolean;
}

/** Checks the key (a refusal throws IgdmError: unauthorized, forbidden) and says who it is. */
export async function identify(client: Igdm): Promise<Identity> {
  return identityOf(await (takeEarly<Me>('me') ?? client.me()));
}

/** Who the stored key is, if igdm has already said so (and the key may use the inbox); else null. */
export function answeredIdentity(): Identity | null {
  const me = takeAnswered<Me>('me');
  return me?.scopes.includes('read') ? identityOf(me) : null;
}

function identityOf(me: Me): Identity {
  // A key that cannot read conversations cannot use the inbox: refused here, not on every screen.
  if (!me.scopes.includes('read')) throw new IgdmError(403, 'forbidden', 'The key lacks the read scope');
  return { name: me.agent ?? me.name, agent: me.agent, scopes: me.scopes, sandbox: me.sandbox };
}

/** The sentence a refused sign-in shows. */
export function signInRefusal(err: unknown): string {
  if (err instanceof IgdmError) {
    if (err.status === 401) return 'igdm does not know this key: check that you pasted it whole.';
    if (err.status === 403) return 'This key may not read conversations (it lacks the read scope).';
    return `igdm refused: ${err.message}`;
  }
  return 'igdm cannot be reached: is it running?';
}
