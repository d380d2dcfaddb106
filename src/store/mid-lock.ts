import { type Kysely, sql } from 'kysely';
import { kindOf } from './dialect.ts';
import { compile, param as p } from './prepared.ts';
import type { Database } from './schema.ts';

// One message of Meta's (a mid) written by two parts at once: the sender records the mid of what it
// sent (send/outcomes.ts markSent) while the projection applies Meta's echo of it, or a reaction to
// it. Each looks for the other's row; on SQLite their transactions never overlap (one writer), but
// on PostgreSQL both could miss the other's uncommitted row and leave two messages. Both take this
// lock, in their transaction, before looking: whichever comes second sees the first's commit.

/** 'igdm' as an int4: the lock's namespace. */
const NAMESPACE = 0x6967646d;

const lock = compile<{ key: string }>(
  sql`select pg_advisory_xact_lock(${NAMESPACE}::int4, hashtext(${p('key')}))`,
);

/**
 * On PostgreSQL, holds the mid's lock until the transaction ends; nothing on SQLite. Not awaited
 * (Compiled.later): the server runs the transaction's next statement once it has the lock.
 */
export async function lockMid(trx: Kysely<Database>, channelId: string, mid: string): Promise<void> {
  if (kindOf(trx) !== 'postgres') return;
  await lock.later(trx, { key: `${channelId}|${mid}` });
}
