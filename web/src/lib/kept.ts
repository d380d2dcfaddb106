import { clientFor, storedKey } from './session.ts';

// igdm's copy of an inbound attachment, for when Meta's link has expired: fetched with the key (an
// <img> cannot send it) and shown from memory. One fetch per copy for the page's life.

export interface KeptCopy {
  id: string;
  url: string;
}

const loaded = new Map<string, Promise<string>>();

/** An object URL of the copy's bytes. */
export function keptSrc(kept: KeptCopy): Promise<string> {
  let src = loaded.get(kept.id);
  if (!src) {
    const key = storedKey();
    src = key
      ? clientFor(key)
          .media.get(kept.id)
          .then((blob) => URL.createObjectURL(blob))
      : Promise.reject(new Error('signed out'));
    src.catch(() => loaded.delete(kept.id));
    loaded.set(kept.id, src);
  }
  return src;
}
