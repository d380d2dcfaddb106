import { seg, type Transport } from './transport.ts';

// igdm's copies of inbound media (Meta's CDN links expire): an inbound message's attachment names
// its copy as `kept: { id, url, contentType, bytes }` once igdm has fetched it.

export class Media {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  /** The copy's bytes. Throws IgdmError 404 `media_not_found` when there is none (or no longer). */
  get(id: string): Promise<Blob> {
    return this.#t.download(`/v1/media/${seg(id)}`);
  }
}
