import type { Igdm } from '@igdm/sdk';

// Requests started as the page loads, before React has rendered anything: who the stored key is,
// the first page of the list, and the conversation the address names. The code that needs each
// takes it once (then asks igdm itself as usual): the page shows sooner by the time React takes to
// start.

const started = new Map<string, Promise<unknown>>();

/** Starts `request` now, under `name`. */
export function early<T>(name: string, request: () => Promise<T>) {
  const promise = request();
  promise.catch(() => undefined); // taken later, or never: not an unhandled rejection
  started.set(name, promise);
}

/** The request started under `name` for this client's key, once; else null. */
export function takeEarly<T>(name: string): Promise<T> | null {
  const promise = started.get(name) as Promise<T> | undefined;
  started.delete(name);
  return promise ?? null;
}

export const listRequest = (query: object) => `list ${JSON.stringify(query)}`;

/** What the first screen needs, for the stored key: started from main.tsx. */
export function startEarly(client: Igdm, firstList: object, conversationId: string | null) {
  early('me', () => client.me());
  early(listRequest(firstList), () => client.conversations.list(firstList));
  if (conversationId) {
    early(`conversation ${conversationId}`, () => client.conversations.get(conversationId));
    early(`messages ${conversationId}`, () => client.conversations.messages(conversationId, { limit: 50 }));
  }
}
