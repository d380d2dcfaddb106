import type { DomainEvent } from '../meta/events.ts';

// What became of a stored event: applied, or not with a reason, so that nothing Meta sent is dropped
// without a word. Unapplied: igdm could not read or apply it (a shape it does not understand, an
// error); `igdm replay --unapplied` tries those again after an upgrade. Ignored: understood, and
// deliberately not applied (another object, a field or kind igdm does not apply yet, the account
// messaging itself). Both are listed by GET /v1/webhook-events with their reason.

export type Outcome =
  | { status: 'applied'; reason: null }
  | { status: 'unapplied' | 'ignored'; reason: string };

export const APPLIED: Outcome = { status: 'applied', reason: null };
export const unapplied = (reason: string): Outcome => ({ status: 'unapplied', reason: cap(reason) });
export const ignored = (reason: string): Outcome => ({ status: 'ignored', reason: cap(reason) });

/** Kinds kept in the event log without changing state or reaching the engine (yet). */
const NOT_APPLIED_KINDS = new Set<DomainEvent['kind']>(['mention', 'story_insights']);
/** Kinds about a customer's conversation: without the customer they cannot be applied. */
const CUSTOMER_KINDS = new Set<DomainEvent['kind']>([
  'message',
  'echo',
  'postback',
  'referral',
  'unsend',
  'edit',
  'reaction',
  'read',
]);

/** Why an event is not applied, or null when it is to be applied. */
export function skipOf(event: DomainEvent): Outcome | null {
  if (event.kind === 'unknown') return event.ignored ? ignored(event.reason) : unapplied(event.reason);
  if ((event.kind === 'message' || event.kind === 'echo') && event.isSelf) {
    return ignored('is_self: the account messaged itself');
  }
  if (NOT_APPLIED_KINDS.has(event.kind)) return ignored(`${event.kind}: not applied by igdm yet`);
  if (CUSTOMER_KINDS.has(event.kind)) {
    if (!event.igsid) return unapplied(`${event.kind} without a customer (no sender or recipient id)`);
    if (event.igsid === event.accountId) return ignored(`${event.kind} from the account to itself`);
  }
  return null;
}

/** Reasons are kept short: they are labels of a metric and lines of a log too. */
const cap = (reason: string) => (reason.length > 200 ? `${reason.slice(0, 199)}…` : reason);
