import { existsSync } from 'node:fs';
import type { Config } from '../config.ts';
import { Projector } from '../projection/projector.ts';
import { openSqliteStore, type SqliteStore, sqlitePathOf } from '../store/index.ts';
import { retryUnapplied } from '../store/webhook-events.ts';

/**
 * Re-applies stored raw events to rebuild state: every conversation, or one. Messages are rebuilt
 * from the event log (those igdm sent stay, from the outbox); conversation and contact ids stay.
 */
export async function replay(
  config: Config,
  conversationId: string | null,
  options: { unapplied?: boolean } = {},
): Promise<number> {
  const path = sqlitePathOf(config.databaseUrl);
  if (!existsSync(path)) {
    process.stderr.write(`igdm: no store at ${path}; set DATABASE_URL to the store igdm start uses\n`);
    return 2;
  }
  const store = await openSqliteStore(config.databaseUrl);
  const { db } = store;
  try {
    if (options.unapplied) return await replayUnapplied(store);
    const scope = conversationId
      ? await db
          .selectFrom('conversations')
          .select(['id', 'channelId', 'igsid'])
          .where('id', '=', conversationId)
          .executeTakeFirst()
      : null;
    if (conversationId && !scope) {
      process.stderr.write(`igdm: no conversation "${conversationId}" (see GET /v1/conversations)\n`);
      return 2;
    }
    await db.transaction().execute(async (trx) => {
      // Messages igdm sent are not in the event log: they stay (their echoes find them again).
      let messages = trx
        .deleteFrom('messages')
        .where(
          'id',
          'not in',
          trx.selectFrom('outbox').select('messageId').where('messageId', 'is not', null),
        );
      let conversations = trx
        .updateTable('conversations')
        .set({ lastInboundAt: null, lastMessageAt: null, readUpTo: null, readAt: null });
      let events = trx
        .updateTable('webhookEvents')
        .set({ appliedAt: null, applyError: null, applyStatus: null });
      if (scope) {
        messages = messages.where('conversationId', '=', scope.id);
        conversations = conversations.where('id', '=', scope.id);
        events = events.where('channelId', '=', scope.channelId).where('igsid', '=', scope.igsid);
      }
      await messages.execute();
      await conversations.execute();
      await events.execute();
    });
    // State only: the engine's effects (replies, handovers, webhooks) happened once already.
    const total = new Projector(store.sqlite).applyAll();
    // A conversation with no message event left (only a referral, say) sorts by when it began.
    await db
      .updateTable('conversations')
      .set((eb) => ({ lastMessageAt: eb.ref('createdAt') }))
      .where('lastMessageAt', 'is', null)
      .execute();
    process.stdout.write(`igdm: replayed ${total} events${scope ? ` of conversation ${scope.id}` : ''}\n`);
    return 0;
  } finally {
    await store.close();
  }
}

/**
 * `igdm replay --unapplied`: the events that could not be applied (GET /v1/webhook-events?status=
 * unapplied) are applied again, after an upgrade fixed the cause; nothing else is touched. State only,
 * like the full replay: they are late, and automation does not answer them now.
 */
async function replayUnapplied(store: SqliteStore): Promise<number> {
  const { db } = store;
  const ids = (
    await db.selectFrom('webhookEvents').select('id').where('applyStatus', '=', 'unapplied').execute()
  ).map((r) => Number(r.id));
  if ((await retryUnapplied(db)) !== ids.length) throw new Error('the unapplied events changed meanwhile');
  new Projector(store.sqlite).applyAll();
  const counts = { applied: 0, unapplied: 0, ignored: 0 };
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db
      .selectFrom('webhookEvents')
      .select(['applyStatus', (eb) => eb.fn.countAll<number>().as('n')])
      .where('id', 'in', ids.slice(i, i + 500))
      .groupBy('applyStatus')
      .execute();
    for (const r of rows) if (r.applyStatus && r.applyStatus in counts) counts[r.applyStatus] += Number(r.n);
  }
  process.stdout.write(
    `igdm: ${ids.length} unapplied events tried again: ${counts.applied} applied, ` +
      `${counts.ignored} ignored, ${counts.unapplied} still unapplied` +
      `${counts.unapplied ? ' (GET /v1/webhook-events?status=unapplied says why)' : ''}\n`,
  );
  return 0;
}
