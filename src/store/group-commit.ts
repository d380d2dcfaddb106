import type { Kysely } from 'kysely';
import { kindOf } from './dialect.ts';
import type { Database } from './schema.ts';

/**
 * Writes that reach the same point together (the sender's claims and outcomes) share one commit.
 * Each commit waits for the disk (synchronous=FULL), and one or two commits per send were most of
 * the sender's time. If the shared transaction fails, each write is tried again on its own, so that
 * one bad write fails alone.
 *
 * On PostgreSQL each write is its own transaction at once: the server already flushes concurrent
 * commits together, and a shared transaction would hold one pooled connection for all of them.
 */
export class GroupCommit {
  readonly #db: Kysely<Database>;
  #batch: {
    work: (trx: Kysely<Database>) => Promise<unknown>;
    resolve: (value: unknown) => void;
    reject: (err: unknown) => void;
  }[] = [];

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  run<T>(work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    if (kindOf(this.#db) === 'postgres') return this.#db.transaction().execute(work);
    return new Promise<T>((resolve, reject) => {
      if (this.#batch.length === 0) setImmediate(() => void this.#flush());
      this.#batch.push({ work, resolve: resolve as (value: unknown) => void, reject });
    });
  }

  /** A write of one statement: on PostgreSQL it commits on its own, without begin and commit around it. */
  statement<T>(work: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    return kindOf(this.#db) === 'postgres' ? work(this.#db) : this.run(work);
  }

  async #flush(): Promise<void> {
    const batch = this.#batch;
    this.#batch = [];
    try {
      const values = await this.#db.transaction().execute(async (trx) => {
        const out: unknown[] = [];
        for (const item of batch) out.push(await item.work(trx));
        return out;
      });
      for (const [i, item] of batch.entries()) item.resolve(values[i]);
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      for (const item of batch) {
        await this.#db.transaction().execute(item.work).then(item.resolve, item.reject);
      }
    }
  }
}
