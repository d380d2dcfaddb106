// An append-only list with sequence numbers that keeps only the newest `cap` records (the sandbox
// runs for days in a demo; its memory must not grow with it).

export class Journal<T> {
  readonly #cap: number;
  #items: (T & { seq: number })[] = [];
  #seq = 0;

  constructor(cap = 1000) {
    this.#cap = cap;
  }

  add(item: T): T & { seq: number } {
    const record = { seq: ++this.#seq, ...item };
    this.#items.push(record);
    if (this.#items.length > this.#cap) this.#items.splice(0, this.#items.length - this.#cap);
    return record;
  }

  /** Oldest first. */
  list(): readonly (T & { seq: number })[] {
    return this.#items;
  }

  /** The records after sequence number `seq`, oldest first. */
  after(seq: number): readonly (T & { seq: number })[] {
    const items = this.#items;
    let lo = 0;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (items[mid]!.seq <= seq) lo = mid + 1;
      else hi = mid;
    }
    return items.slice(lo);
  }

  clear(): number {
    const n = this.#items.length;
    this.#items = [];
    return n;
  }
}
