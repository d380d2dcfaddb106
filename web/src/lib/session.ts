import { Igdm, IgdmError } from '@igdm/sdk';

// The signed-in agent: their API key (kept in localStorage under igdm.apiKey), the client made
// with it, and what igdm says about the key.

export const KEY_STORAGE = 'igdm.apiKey';

export const storedKey = () => localStorage.getItem(KEY_STORAGE);
export const storeKey = (key: string) => localStorage.setItem(KEY_STORAGE, key);
export const forgetKey = () => localStorage.removeItem(KEY_STORAGE);

export const clientFor = (apiKey: string) => new Igdm({ baseUrl: location.origin, apiKey });

/** Who the key is, as GET /v1/me answers (the contract of issue 15). */
export interface Identity {
  /** The agent's name, or the key's. */
  name: string | null;
  agent: string | null;
  scopes: string[];
  /** igdm runs its sandbox: the "simulate a customer" panel is shown. */
  sandbox: boolean;
}

interface MeClient {
  me?: () => Promise<{ name: string; agent: string | null; scopes: string[]; sandbox: boolean }>;
}

/**
 * Checks the key (a refusal throws IgdmError: unauthorized, forbidden) and says who it is. An igdm
 * without GET /v1/me is asked for a conversation instead, and for its sandbox's customers.
 */
export async function identify(client: Igdm): Promise<Identity> {
  const me = (client as unknown as MeClient).me;
  if (typeof me === 'function') {
    try {
      const m = await me.call(client);
      return { name: m.agent ?? m.name, agent: m.agent, scopes: m.scopes, sandbox: m.sandbox };
    } catch (err) {
      if (!(err instanceof IgdmError) || err.status !== 404) throw err;
    }
  }
  await client.conversations.list({ limit: 1 });
  const sandbox = await client.sandbox.customers().then(
    () => true,
    () => false,
  );
  return { name: null, agent: null, scopes: [], sandbox };
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
