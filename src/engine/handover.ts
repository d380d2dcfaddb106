import type { Kysely } from 'kysely';
import { GraphClient } from '../graph/client.ts';
import type { Logger } from '../log.ts';
import type { HandoverEvent } from '../meta/events.ts';
import type { Channel } from '../store/channels.ts';
import { conversationAddress, setThreadOwner } from '../store/conversations.ts';
import type { Database } from '../store/schema.ts';

// Who owns a conversation: the bot, or a human (an agent in the inbox, someone typing in the
// Instagram app, or another app through Meta's conversation routing). While a human owns it the
// bot stays silent. With IGDM_HANDOVER_APP_ID set, moving a conversation also moves Meta's thread
// control: passed to that app for a human, taken back for the bot.

export type Owner = 'bot' | 'human';

export interface HandoverDeps {
  db: Kysely<Database>;
  log: Logger;
  now: () => number;
  /** The app that takes conversations handed to a human, for Meta's conversation routing. */
  handoverAppId: string | null;
  graphTimeoutMs?: number;
}

export interface HandoverResult {
  /** The owner changed (false: it was already the owner, or there is no such conversation). */
  changed: boolean;
  /** Meta's routing call failed: the owner changed in igdm anyway. */
  routingError?: string;
}

/** Makes `to` the owner; when it changes and routing is configured, tells Meta too. */
export async function handOver(
  deps: HandoverDeps,
  channel: Channel | undefined,
  conversationId: string,
  to: Owner,
  options: { routing?: boolean } = {},
): Promise<HandoverResult> {
  const changed = await setThreadOwner(deps.db, conversationId, to, deps.now());
  if (!changed || !deps.handoverAppId || !channel || options.routing === false) return { changed };
  const c = await conversationAddress(deps.db, conversationId);
  if (!c) return { changed };
  try {
    const graph = new GraphClient(channel, { timeoutMs: deps.graphTimeoutMs });
    if (to === 'human') await graph.routing('pass', c.igsid, { targetAppId: deps.handoverAppId });
    else await graph.routing('take', c.igsid, { metadata: 'igdm: back to the bot' });
    return { changed };
  } catch (err) {
    const routingError = (err as Error).message;
    deps.log.warn(
      { conversation: conversationId, to, err: routingError },
      'conversation routing call failed',
    );
    return { changed, routingError };
  }
}

/** Makes `to` the owner of a conversation known by its id alone (the API's handover). */
export async function handOverConversation(
  deps: HandoverDeps & { channels: () => readonly Channel[] },
  conversationId: string,
  to: Owner,
): Promise<HandoverResult> {
  const c = await conversationAddress(deps.db, conversationId);
  return handOver(
    deps,
    deps.channels().find((ch) => ch.id === c?.channelId),
    conversationId,
    to,
  );
}

/**
 * The owner a routing webhook implies. Control passed to the handover app, or taken by another app,
 * means a human; control coming back from the handover app, passed to igdm or released means the
 * bot. A request for control changes nothing by itself.
 */
export function ownerAfter(event: HandoverEvent, handoverAppId: string | null): Owner | null {
  if (event.action === 'request') return null;
  if (event.action === 'release') return 'bot';
  if (handoverAppId) {
    if (event.newOwnerAppId === handoverAppId) return 'human';
    if (event.previousOwnerAppId === handoverAppId) return 'bot';
  }
  // pass_thread_control reaches the app that receives control (igdm); take_thread_control reaches
  // the app that lost it.
  return event.action === 'pass' ? 'bot' : 'human';
}
