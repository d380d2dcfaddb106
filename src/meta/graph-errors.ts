// A failed Graph API call, classified into what the sender does next. Pure (no I/O, no clock) and
// total: whatever the input, it answers and never throws. The rules are meta-platform.md's "Errors"
// table; the waits come from the usage headers of its "Policy" section.
//
// `ambiguous`: the request left igdm, but no answer that can be read came back (a timeout, a
// connection cut after the request was written, an answer cut off or unreadable). Meta may have
// acted on it, so a send is not simply made again: Meta is asked first (send/reconcile.ts). A read
// may be repeated.

export type GraphAction = 'retry' | 'throttle' | 'reauthorize' | 'pause' | 'give_up' | 'ambiguous';

export interface GraphFailure {
  action: GraphAction;
  /** Short and machine-readable: outside_window, token_invalid, rate_limited... */
  reason: string;
  message: string;
  code?: number;
  subcode?: number;
  fbtraceId?: string;
  /** How long to wait before calling again: always set for throttle, for retry when Meta says. */
  retryAfterMs?: number;
}

export interface GraphFailureInput {
  /** The HTTP status, or null when no answer came (network error or timeout). */
  status: number | null;
  /** The response body: parsed JSON or its raw text. */
  body?: unknown;
  headers?: Headers | Record<string, string | undefined>;
  timedOut?: boolean;
  /**
   * With no answer: whether the request had left in full (default true, the safe assumption). One
   * that never left (connection refused, DNS) is simply tried again.
   */
  sent?: boolean;
}

/** Percentages of the app's (or the business use case's) hourly allowance. */
export interface Usage {
  callCount?: number;
  totalTime?: number;
  totalCputime?: number;
}
export interface BusinessUseCaseUsage extends Usage {
  businessId: string;
  type?: string;
  estimatedTimeToRegainAccessMinutes?: number;
}
export interface UsageHeaders {
  /** x-app-usage; undefined when missing or malformed. */
  app?: Usage;
  /** x-business-use-case-usage, one item per business id and use case; empty when missing or malformed. */
  businessUseCase: BusinessUseCaseUsage[];
}

export const DEFAULT_THROTTLE_MS = 60_000;
/**
 * The wait when Meta's estimate is 0 minutes: a per-second limit (the Send API's 100 calls/s), over
 * within a second. Waiting by how full the hourly allowance looks would hold every send for minutes.
 */
export const SHORT_THROTTLE_MS = 1000;
/** No wait is longer than a day, whatever a header says: the sender looks again then. */
export const MAX_WAIT_MS = 24 * 60 * 60_000;

/** The wait when throttled with no estimate from Meta: the fuller the hourly allowance, the longer. */
const BACKOFF_BY_USAGE: [percent: number, ms: number][] = [
  [100, 15 * 60_000],
  [90, 5 * 60_000],
  [75, 2 * 60_000],
];

type Rule = { action: GraphAction; reason: string };
const rule = (action: GraphAction, reason: string): Rule => ({ action, reason });
const giveUp = (reason: string) => rule('give_up', reason);
const THROTTLED = rule('throttle', 'rate_limited');
const TOKEN_INVALID = rule('reauthorize', 'token_invalid');
const OUTSIDE_WINDOW = giveUp('outside_window');
const RECIPIENT_UNAVAILABLE = giveUp('recipient_unavailable');
const USER_NOT_FOUND = giveUp('user_not_found');
const ANOTHER_APP = giveUp('another_app_owns_thread');

// Keyed `code/subcode` (wins) or `code` (any subcode).
const RULES: Record<string, Rule> = {
  '4': THROTTLED,
  '17': THROTTLED,
  '32': THROTTLED,
  '613': THROTTLED,
  '80002': THROTTLED,
  '80006': THROTTLED,
  '102': TOKEN_INVALID,
  '190': TOKEN_INVALID,
  '190/463': rule('reauthorize', 'token_expired'),
  '368': rule('pause', 'policy_block'),
  '10': giveUp('permission_missing'),
  '10/2534022': OUTSIDE_WINDOW,
  '10/2018278': OUTSIDE_WINDOW,
  '10/2018108': RECIPIENT_UNAVAILABLE,
  '10/1893063': RECIPIENT_UNAVAILABLE,
  '10/2534077': RECIPIENT_UNAVAILABLE,
  '100': giveUp('invalid_parameter'),
  '100/2018001': USER_NOT_FOUND,
  '100/2534014': USER_NOT_FOUND,
  '100/2534015': giveUp('invalid_data'),
  '100/2018109': giveUp('attachment_too_large'),
  '100/2534025': giveUp('invalid_private_reply'),
  '100/2534037': giveUp('not_thread_owner'),
  '230': giveUp('consent_required'),
  '551': giveUp('person_unavailable'),
  '2018300': ANOTHER_APP,
};

function lookup(code: number, subcode: number | undefined): Rule | undefined {
  // Meta reports "another app owns the thread" as a code of its own or as a subcode (of 10).
  if (subcode === 2018300) return ANOTHER_APP;
  return (
    RULES[`${code}/${subcode}`] ??
    RULES[`${code}`] ??
    (code >= 200 && code <= 299 ? giveUp('permission_missing') : undefined)
  );
}

// A documented code decides; then Meta's own "transient"; then the HTTP status alone.
function decide(status: number, error: GraphErrorBody | undefined): Rule {
  const known = error?.code !== undefined ? lookup(error.code, error.subcode) : undefined;
  if (known) return known;
  if (error && (error.code === 1 || error.code === 2 || error.isTransient)) return rule('retry', 'transient');
  if (status >= 500) return rule('retry', 'server_error');
  if (status === 429) return THROTTLED;
  return giveUp('unknown');
}

/** A call whose outcome igdm cannot know: see `ambiguous` above. */
export const ambiguous = (reason: string, message: string): GraphFailure => ({
  action: 'ambiguous',
  reason,
  message,
});

export function classifyGraphError(input: GraphFailureInput): GraphFailure {
  const { status, body, headers, timedOut, sent } = (
    isObject(input) ? input : {}
  ) as Partial<GraphFailureInput>;
  if (typeof status !== 'number') {
    if (sent === false)
      return { action: 'retry', reason: 'network_error', message: 'Graph API could not be reached' };
    return timedOut === true
      ? ambiguous('timeout', 'Graph API call timed out: Meta may have acted on it')
      : ambiguous(
          'connection_lost',
          'Graph API connection lost before the answer: Meta may have acted on it',
        );
  }
  const h = headerMap(headers);
  const error = graphError(body);
  const fbtraceId = error?.fbtraceId ?? h.get('x-fb-trace-id');
  const { action, reason } = decide(status, error);
  const failure: GraphFailure = {
    action,
    reason,
    message: error?.message ?? `Graph API answered HTTP ${status}`,
  };
  if (error?.code !== undefined) failure.code = error.code;
  if (error?.subcode !== undefined) failure.subcode = error.subcode;
  if (fbtraceId !== undefined) failure.fbtraceId = fbtraceId;
  const retryAfterMs =
    action === 'throttle' ? throttleWait(h) : action === 'retry' ? retryAfter(h) : undefined;
  if (retryAfterMs !== undefined) failure.retryAfterMs = Math.min(retryAfterMs, MAX_WAIT_MS);
  return failure;
}

/** The usage headers of a Graph API response. Tolerant: what does not parse is left out. */
export function parseUsageHeaders(headers: GraphFailureInput['headers']): UsageHeaders {
  return usageOf(headerMap(headers));
}

function usageOf(h: Map<string, string>): UsageHeaders {
  const app = parseJson(h.get('x-app-usage'));
  const buc = parseJson(h.get('x-business-use-case-usage'));
  const businessUseCase: BusinessUseCaseUsage[] = [];
  if (isObject(buc)) {
    for (const [businessId, entries] of Object.entries(buc)) {
      for (const e of Array.isArray(entries) ? entries : [entries]) {
        if (!isObject(e)) continue;
        const item: BusinessUseCaseUsage = { businessId, ...usage(e) };
        if (typeof e['type'] === 'string') item.type = e['type'];
        const minutes = toNumber(e['estimated_time_to_regain_access']);
        if (minutes !== undefined) item.estimatedTimeToRegainAccessMinutes = minutes;
        businessUseCase.push(item);
      }
    }
  }
  return isObject(app) ? { app: usage(app), businessUseCase } : { businessUseCase };
}

function usage(o: Record<string, unknown>): Usage {
  const u: Usage = {};
  const callCount = toNumber(o['call_count']);
  const totalTime = toNumber(o['total_time']);
  const totalCputime = toNumber(o['total_cputime']);
  if (callCount !== undefined) u.callCount = callCount;
  if (totalTime !== undefined) u.totalTime = totalTime;
  if (totalCputime !== undefined) u.totalCputime = totalCputime;
  return u;
}

// Meta's own estimate first (the longest over every business use case), then Retry-After, then
// an estimate of 0 (a per-second limit), then how full the allowance is, then the default.
function throttleWait(h: Map<string, string>): number {
  const { app, businessUseCase } = usageOf(h);
  const estimates = businessUseCase.flatMap((b) => b.estimatedTimeToRegainAccessMinutes ?? []);
  const minutes = Math.max(0, ...estimates);
  if (minutes > 0) return minutes * 60_000;
  const explicit = retryAfter(h);
  if (explicit !== undefined) return explicit;
  if (estimates.length > 0) return SHORT_THROTTLE_MS;
  const peak = Math.max(
    0,
    ...[app ?? {}, ...businessUseCase].flatMap((u) => [
      u.callCount ?? 0,
      u.totalTime ?? 0,
      u.totalCputime ?? 0,
    ]),
  );
  return BACKOFF_BY_USAGE.find(([percent]) => peak >= percent)?.[1] ?? DEFAULT_THROTTLE_MS;
}

function retryAfter(h: Map<string, string>): number | undefined {
  const value = h.get('retry-after')?.trim();
  return value && /^\d+$/.test(value) ? Number(value) * 1000 : undefined;
}

interface GraphErrorBody {
  message?: string;
  code?: number;
  subcode?: number;
  fbtraceId?: string;
  isTransient: boolean;
}

/** Meta's `{"error":{...}}`, from parsed JSON or raw text; undefined when the body is not one. */
function graphError(body: unknown): GraphErrorBody | undefined {
  const parsed = typeof body === 'string' ? parseJson(body) : body;
  const e = isObject(parsed) ? parsed['error'] : undefined;
  if (!isObject(e)) return undefined;
  const message = [e['message'], e['error_user_msg']].find((m) => typeof m === 'string' && m !== '');
  return {
    message: message as string | undefined,
    code: toInt(e['code']),
    subcode: toInt(e['error_subcode']),
    fbtraceId: typeof e['fbtrace_id'] === 'string' ? e['fbtrace_id'] : undefined,
    isTransient: e['is_transient'] === true,
  };
}

function headerMap(headers: unknown): Map<string, string> {
  if (headers instanceof Headers) return new Map(headers.entries());
  const map = new Map<string, string>();
  if (isObject(headers))
    for (const [k, v] of Object.entries(headers)) if (typeof v === 'string') map.set(k.toLowerCase(), v);
  return map;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function toNumber(v: unknown): number | undefined {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

function toInt(v: unknown): number | undefined {
  const n = toNumber(v);
  return n !== undefined && Number.isInteger(n) ? n : undefined;
}
