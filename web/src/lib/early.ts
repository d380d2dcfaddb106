import type { Igdm } from '@igdm/sdk';

// Requests started as the page loads, before React has rendered anything: who the stored key is,
// the first page of the list, and the conversation the address names. The code that needs each
// takes it once (then asks igdm itself as usual): the page shows sooner by the time React takes to
// start. An answer that has already come is taken as a value, so that React's first render shows
// it (one render, not an empty screen and then another).

const started = new Map<string, Promise<unknown>>();
const answered = new Map<string, unknown>();

/** Starts `request` now, under `name`. */
export function early<T>(name: string, request: () => Promise<T>) {
  const promise = request();
  promise.then(
    (value) => {
      if (started.get(name) === promise) answered.set(name, value);
    },
    () => undefined, // taken later, or never: not an unhandled rejection
  );
  started.set(name, promise);
}

/** The request started under `name`, once; else null. */
export function takeEarly<T>(name: string): Promise<T> | null {
  const promise = started.get(name) as Promise<T> | undefined;
  started.delete(name);
  answered.delete(name);
  return promise ?? null;
}

/** The answer to the request started under `name` if it has come, once; else undefined. */
export function takeAnswered<T>(name: string): T | undefined {
  if (!answered.has(name)) return undefined;
  const value = answered.get(name) as T;
  takeEarly(name);
  return value;
}

/** The answer to the request started under `name` if it has come, left for whoever takes it. */
export const peekAnswered = <T>(name: string): T | undefined => answered.get(name) as T | undefined;

/** Resolves once every request started has been answered (or has failed), or after `ms`. */
export function answeredWithin(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms);
    void Promise.allSettled([...started.values()]).then(() => resolve());
  });
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
