import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  classifyGraphError,
  DEFAULT_THROTTLE_MS,
  type GraphAction,
  type GraphFailureInput,
  MAX_WAIT_MS,
  parseUsageHeaders,
  SHORT_THROTTLE_MS,
} from '../../src/meta/graph-errors.ts';

// Error bodies take Meta's documented shape (Graph API "Handling Errors", Messenger Platform error
// codes); the rows are meta-platform.md's "Errors" table.

const TRACE = 'AbCdEfGh1234';
const MINUTE = 60_000;

function graphError(code: number, subcode?: number, over: Record<string, unknown> = {}) {
  return {
    error: {
      message: `(#${code}) Something went wrong`,
      type: 'OAuthException',
      code,
      ...(subcode !== undefined && { error_subcode: subcode }),
      fbtrace_id: TRACE,
      is_transient: false,
      ...over,
    },
  };
}

const classify = (code: number, subcode?: number, status = 400, over: Record<string, unknown> = {}) =>
  classifyGraphError({ status, body: graphError(code, subcode, over) });

describe('classifyGraphError: the error table', () => {
  const ROWS: [
    code: number,
    subcode: number | undefined,
    status: number,
    action: GraphAction,
    reason: string,
  ][] = [
    // 1, 2: unknown / temporary → retry
    [1, undefined, 500, 'retry', 'transient'],
    [1, 99, 400, 'retry', 'transient'],
    [2, undefined, 500, 'retry', 'transient'],
    [2, undefined, 400, 'retry', 'transient'],
    [2, 2018344, 400, 'retry', 'transient'],
    // throttled → back off
    [4, undefined, 400, 'throttle', 'rate_limited'],
    [4, 2018354, 400, 'throttle', 'rate_limited'],
    [17, undefined, 400, 'throttle', 'rate_limited'],
    [32, undefined, 400, 'throttle', 'rate_limited'],
    [613, undefined, 400, 'throttle', 'rate_limited'],
    [613, 2534040, 400, 'throttle', 'rate_limited'],
    [80002, undefined, 400, 'throttle', 'rate_limited'],
    [80006, undefined, 400, 'throttle', 'rate_limited'],
    // 10: outside the window, recipient unavailable, other permission problems
    [10, 2534022, 400, 'give_up', 'outside_window'],
    [10, 2018278, 400, 'give_up', 'outside_window'],
    [10, 2018108, 400, 'give_up', 'recipient_unavailable'],
    [10, 1893063, 400, 'give_up', 'recipient_unavailable'],
    [10, 2534077, 400, 'give_up', 'recipient_unavailable'],
    [10, undefined, 400, 'give_up', 'permission_missing'],
    // 100: bad requests
    [100, 33, 400, 'give_up', 'invalid_parameter'],
    [100, 2018001, 400, 'give_up', 'user_not_found'],
    [100, 2534014, 400, 'give_up', 'user_not_found'],
    [100, 2534015, 400, 'give_up', 'invalid_data'],
    [100, 2018109, 400, 'give_up', 'attachment_too_large'],
    [100, 2534025, 400, 'give_up', 'invalid_private_reply'],
    [100, 2534037, 400, 'give_up', 'not_thread_owner'],
    [100, undefined, 400, 'give_up', 'invalid_parameter'],
    [100, 9999999, 400, 'give_up', 'invalid_parameter'],
    // 190: token invalid or expired → reconnect the channel
    [190, undefined, 400, 'reauthorize', 'token_invalid'],
    [190, 458, 400, 'reauthorize', 'token_invalid'],
    [190, 459, 400, 'reauthorize', 'token_invalid'],
    [190, 460, 400, 'reauthorize', 'token_invalid'],
    [190, 463, 400, 'reauthorize', 'token_expired'],
    [190, 464, 400, 'reauthorize', 'token_invalid'],
    [190, 467, 400, 'reauthorize', 'token_invalid'],
    [190, 467, 401, 'reauthorize', 'token_invalid'],
    // 200–299, 230: permissions and consent
    [200, undefined, 403, 'give_up', 'permission_missing'],
    [200, 2534041, 400, 'give_up', 'permission_missing'],
    [230, undefined, 400, 'give_up', 'consent_required'],
    [250, undefined, 400, 'give_up', 'permission_missing'],
    [299, undefined, 400, 'give_up', 'permission_missing'],
    // 368: blocked for policy → pause the channel
    [368, undefined, 400, 'pause', 'policy_block'],
    [368, 1390008, 400, 'pause', 'policy_block'],
    // 551: person not available
    [551, undefined, 400, 'give_up', 'person_unavailable'],
    [551, 1545041, 400, 'give_up', 'person_unavailable'],
    // 2018300: another app owns the thread, as a code or as a subcode of 10
    [2018300, undefined, 400, 'give_up', 'another_app_owns_thread'],
    [10, 2018300, 400, 'give_up', 'another_app_owns_thread'],
    // anything else
    [12345, undefined, 400, 'give_up', 'unknown'],
    [300, undefined, 400, 'give_up', 'unknown'],
    [199, undefined, 400, 'give_up', 'unknown'],
  ];

  it.each(ROWS)('code %s, subcode %s, HTTP %s → %s (%s)', (code, subcode, status, action, reason) => {
    const failure = classify(code, subcode, status);
    expect(failure).toMatchObject({ action, reason, code, fbtraceId: TRACE });
    expect(failure.subcode).toBe(subcode);
    expect(failure.message).toBe(`(#${code}) Something went wrong`);
    if (action === 'throttle') expect(failure.retryAfterMs).toBe(DEFAULT_THROTTLE_MS);
    else expect(failure.retryAfterMs).toBeUndefined();
  });

  it('returns the whole documented error, and nothing it does not know', () => {
    const body = {
      error: {
        message: 'This message is sent outside of allowed window.',
        type: 'OAuthException',
        code: 10,
        error_subcode: 2534022,
        error_user_title: 'Message Not Sent',
        error_user_msg: 'This person isn’t available right now.',
        fbtrace_id: 'A6LJylpZRKw2xKLFsAP-cJh',
        is_transient: false,
      },
    };
    expect(classifyGraphError({ status: 400, body })).toEqual({
      action: 'give_up',
      reason: 'outside_window',
      code: 10,
      subcode: 2534022,
      message: 'This message is sent outside of allowed window.',
      fbtraceId: 'A6LJylpZRKw2xKLFsAP-cJh',
    });
  });

  it('retries what Meta marks transient, unless the code says otherwise', () => {
    expect(classify(12345, undefined, 400, { is_transient: true })).toMatchObject({
      action: 'retry',
      reason: 'transient',
    });
    expect(classify(613, 2534040, 400, { is_transient: true })).toMatchObject({ action: 'throttle' });
    expect(classify(190, 463, 400, { is_transient: true })).toMatchObject({ action: 'reauthorize' });
    expect(classify(12345, undefined, 400, { is_transient: 'yes' })).toMatchObject({ action: 'give_up' });
  });

  it('reads a body given as raw JSON text, and codes given as numeric strings', () => {
    const raw = JSON.stringify(graphError(190, 463));
    expect(classifyGraphError({ status: 400, body: raw })).toMatchObject({
      action: 'reauthorize',
      reason: 'token_expired',
      code: 190,
      subcode: 463,
    });
    expect(
      classifyGraphError({ status: 400, body: graphError(0, undefined, { code: '368' }) }),
    ).toMatchObject({
      action: 'pause',
      code: 368,
    });
  });

  it('falls back on error_user_msg, then on the HTTP status, for the message', () => {
    expect(
      classifyGraphError({ status: 400, body: { error: { code: 551, error_user_msg: 'Not available' } } }),
    ).toMatchObject({ message: 'Not available', reason: 'person_unavailable' });
    expect(classifyGraphError({ status: 400, body: { error: { code: 551 } } }).message).toBe(
      'Graph API answered HTTP 400',
    );
  });

  it('takes the trace id from x-fb-trace-id when the body has none', () => {
    expect(classifyGraphError({ status: 502, headers: { 'X-FB-Trace-ID': 'HdrTrace' } }).fbtraceId).toBe(
      'HdrTrace',
    );
    expect(
      classifyGraphError({ status: 400, body: graphError(100), headers: { 'x-fb-trace-id': 'HdrTrace' } })
        .fbtraceId,
    ).toBe(TRACE);
  });
});

describe('classifyGraphError: no usable body, no answer', () => {
  it.each([500, 502, 503, 504, 599])('HTTP %s without a body → retry', (status) => {
    expect(classifyGraphError({ status })).toEqual({
      action: 'retry',
      reason: 'server_error',
      message: `Graph API answered HTTP ${status}`,
    });
    for (const body of ['', '<html>Bad Gateway</html>', null, { ok: false }, '{"error":"oops"}']) {
      expect(classifyGraphError({ status, body })).toMatchObject({ action: 'retry', reason: 'server_error' });
    }
  });

  it('HTTP 5xx with an unknown code → retry; with a known one, the code decides', () => {
    expect(classify(12345, undefined, 500)).toMatchObject({ action: 'retry', reason: 'server_error' });
    expect(classify(190, undefined, 500)).toMatchObject({ action: 'reauthorize' });
  });

  it('HTTP 4xx without a Graph error → give up, except 429 → throttle', () => {
    for (const status of [400, 401, 403, 404, 413]) {
      expect(classifyGraphError({ status, body: 'Bad Request' })).toMatchObject({
        action: 'give_up',
        reason: 'unknown',
      });
    }
    expect(classifyGraphError({ status: 429 })).toEqual({
      action: 'throttle',
      reason: 'rate_limited',
      message: 'Graph API answered HTTP 429',
      retryAfterMs: DEFAULT_THROTTLE_MS,
    });
  });

  it('a request that never left (connection refused, DNS) → retry', () => {
    expect(classifyGraphError({ status: null, sent: false })).toEqual({
      action: 'retry',
      reason: 'network_error',
      message: 'Graph API could not be reached',
    });
    expect(classifyGraphError({ status: null, sent: false, timedOut: true })).toMatchObject({
      action: 'retry',
    });
  });

  it('no answer to a request that left (a timeout, a cut connection) → ambiguous: Meta may have acted', () => {
    expect(classifyGraphError({ status: null, timedOut: true })).toMatchObject({
      action: 'ambiguous',
      reason: 'timeout',
    });
    expect(classifyGraphError({ status: null })).toMatchObject({
      action: 'ambiguous',
      reason: 'connection_lost',
    });
    expect(classifyGraphError({ status: null, sent: true })).toMatchObject({ action: 'ambiguous' });
  });

  it('honours Retry-After (seconds) on a retry', () => {
    expect(classifyGraphError({ status: 503, headers: { 'retry-after': '10' } }).retryAfterMs).toBe(10_000);
    expect(
      classifyGraphError({ status: 503, headers: { 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' } }),
    ).not.toHaveProperty('retryAfterMs');
  });
});

describe('usage headers', () => {
  const APP_USAGE = '{"call_count":28,"total_time":25,"total_cputime":25}';
  const BUC = JSON.stringify({
    '17841405309211844': [
      {
        type: 'instagram',
        call_count: 100,
        total_time: 20,
        total_cputime: 10,
        estimated_time_to_regain_access: 5,
      },
    ],
    '104321234567890': [
      {
        type: 'messenger',
        call_count: 40,
        total_time: 4,
        total_cputime: 4,
        estimated_time_to_regain_access: 12,
      },
      { type: 'pages', call_count: 10, total_time: 1, total_cputime: 1, estimated_time_to_regain_access: 0 },
    ],
  });
  const throttled = (headers: GraphFailureInput['headers']) =>
    classifyGraphError({ status: 400, body: graphError(613, 2534040), headers }).retryAfterMs;

  it('parses both headers', () => {
    expect(parseUsageHeaders({ 'x-app-usage': APP_USAGE, 'x-business-use-case-usage': BUC })).toEqual({
      app: { callCount: 28, totalTime: 25, totalCputime: 25 },
      businessUseCase: [
        {
          businessId: '17841405309211844',
          type: 'instagram',
          callCount: 100,
          totalTime: 20,
          totalCputime: 10,
          estimatedTimeToRegainAccessMinutes: 5,
        },
        {
          businessId: '104321234567890',
          type: 'messenger',
          callCount: 40,
          totalTime: 4,
          totalCputime: 4,
          estimatedTimeToRegainAccessMinutes: 12,
        },
        {
          businessId: '104321234567890',
          type: 'pages',
          callCount: 10,
          totalTime: 1,
          totalCputime: 1,
          estimatedTimeToRegainAccessMinutes: 0,
        },
      ],
    });
  });

  it('reads header names in any case, and a fetch Headers object', () => {
    const expected = { app: { callCount: 28, totalTime: 25, totalCputime: 25 }, businessUseCase: [] };
    expect(parseUsageHeaders({ 'X-App-Usage': APP_USAGE })).toEqual(expected);
    expect(parseUsageHeaders(new Headers({ 'X-App-Usage': APP_USAGE }))).toEqual(expected);
    expect(throttled(new Headers({ 'X-Business-Use-Case-Usage': BUC }))).toBe(12 * MINUTE);
  });

  it('tolerates missing and malformed headers: never throws', () => {
    expect(parseUsageHeaders(undefined)).toEqual({ businessUseCase: [] });
    expect(parseUsageHeaders({})).toEqual({ businessUseCase: [] });
    for (const bad of ['', '{', 'null', '42', '"text"', '[1,2]', 'call_count=28', '{"a":']) {
      expect(parseUsageHeaders({ 'x-app-usage': bad, 'x-business-use-case-usage': bad })).toEqual({
        businessUseCase: [],
      });
    }
    expect(
      parseUsageHeaders({
        'x-app-usage': '{"call_count":"95","total_time":"lots","total_cputime":null}',
        'x-business-use-case-usage': '{"1":"x","2":[null,3,{"type":7,"call_count":50}],"3":{"call_count":1}}',
      }),
    ).toEqual({
      app: { callCount: 95 },
      businessUseCase: [
        { businessId: '2', callCount: 50 },
        { businessId: '3', callCount: 1 },
      ],
    });
  });

  it('throttle: waits for the longest estimated_time_to_regain_access over all entries', () => {
    expect(throttled({ 'x-business-use-case-usage': BUC })).toBe(12 * MINUTE);
    expect(throttled({ 'x-business-use-case-usage': BUC, 'x-app-usage': APP_USAGE })).toBe(12 * MINUTE);
    expect(throttled({ 'x-business-use-case-usage': BUC, 'retry-after': '30' })).toBe(12 * MINUTE);
  });

  it('throttle: else Retry-After, else the fuller the allowance the longer the wait, else the default', () => {
    expect(throttled({ 'retry-after': '30', 'x-app-usage': APP_USAGE })).toBe(30_000);
    const app = (pct: number) => ({
      'x-app-usage': `{"call_count":${pct},"total_time":1,"total_cputime":1}`,
    });
    expect(throttled(app(100))).toBe(15 * MINUTE);
    expect(throttled(app(120))).toBe(15 * MINUTE);
    expect(throttled(app(95))).toBe(5 * MINUTE);
    expect(throttled(app(90))).toBe(5 * MINUTE);
    expect(throttled(app(80))).toBe(2 * MINUTE);
    expect(throttled(app(50))).toBe(DEFAULT_THROTTLE_MS);
    expect(throttled({ 'x-app-usage': '{"call_count":1,"total_time":2,"total_cputime":99}' })).toBe(
      5 * MINUTE,
    );
    // A business use case at its limit without an estimate counts too.
    const bucNoEstimate = JSON.stringify({ '1': [{ type: 'instagram', call_count: 100, total_time: 3 }] });
    expect(throttled({ 'x-business-use-case-usage': bucNoEstimate, 'x-app-usage': APP_USAGE })).toBe(
      15 * MINUTE,
    );
  });

  it('throttle: an estimate of 0 minutes (a per-second limit) waits a second, however full the hour looks', () => {
    const zero = (callCount: number) =>
      JSON.stringify({
        '1': [{ type: 'instagram', call_count: callCount, estimated_time_to_regain_access: 0 }],
      });
    expect(throttled({ 'x-business-use-case-usage': zero(100) })).toBe(SHORT_THROTTLE_MS);
    expect(throttled({ 'x-business-use-case-usage': zero(100), 'x-app-usage': APP_USAGE })).toBe(
      SHORT_THROTTLE_MS,
    );
    expect(SHORT_THROTTLE_MS).toBe(1000);
    // Retry-After, when Meta sends one, still decides.
    expect(throttled({ 'x-business-use-case-usage': zero(100), 'retry-after': '7' })).toBe(7000);
  });

  it('throttle: the default when the headers are missing or malformed', () => {
    expect(throttled(undefined)).toBe(DEFAULT_THROTTLE_MS);
    expect(throttled({ 'x-app-usage': '{oops', 'x-business-use-case-usage': '[]' })).toBe(
      DEFAULT_THROTTLE_MS,
    );
  });

  it('never waits more than a day', () => {
    const huge = JSON.stringify({ '1': [{ estimated_time_to_regain_access: 1e308 }] });
    expect(throttled({ 'x-business-use-case-usage': huge })).toBe(MAX_WAIT_MS);
    expect(throttled({ 'retry-after': '9'.repeat(400) })).toBe(MAX_WAIT_MS);
  });

  it('gives no wait for a give_up, whatever the headers', () => {
    expect(
      classifyGraphError({
        status: 400,
        body: graphError(551),
        headers: { 'x-business-use-case-usage': BUC },
      }),
    ).not.toHaveProperty('retryAfterMs');
  });
});

describe('classifyGraphError never throws', () => {
  const ACTIONS: GraphAction[] = ['retry', 'throttle', 'reauthorize', 'pause', 'give_up', 'ambiguous'];
  const valid = (input: unknown) => {
    const f = classifyGraphError(input as GraphFailureInput);
    expect(ACTIONS).toContain(f.action);
    expect(typeof f.reason).toBe('string');
    expect(typeof f.message).toBe('string');
    if (f.retryAfterMs !== undefined) {
      expect(Number.isFinite(f.retryAfterMs)).toBe(true);
      expect(f.retryAfterMs).toBeGreaterThanOrEqual(0);
    }
    if (f.action === 'throttle') expect(f.retryAfterMs).toBeDefined();
  };

  it('on anything at all', () => {
    fc.assert(fc.property(fc.anything(), valid), { numRuns: 500 });
  });

  it('on Graph-shaped input with arbitrary fields and headers', () => {
    const code = fc.oneof(
      fc.constantFrom(1, 2, 4, 10, 17, 32, 100, 190, 200, 230, 368, 551, 613, 80002, 80006, 2018300),
      fc.integer(),
      fc.anything(),
    );
    const errorBody = fc.record(
      {
        message: fc.anything(),
        type: fc.anything(),
        code,
        error_subcode: fc.oneof(fc.constantFrom(463, 2534022, 2018300, 2534040), fc.anything()),
        fbtrace_id: fc.anything(),
        is_transient: fc.anything(),
        error_user_msg: fc.anything(),
      },
      { requiredKeys: [] },
    );
    const body = fc.oneof(
      fc.record({ error: errorBody }),
      fc.record({ error: errorBody }).map((b) => JSON.stringify(b)),
      fc.record({ error: fc.anything() }),
      fc.json(),
      fc.anything(),
    );
    const headerValue = fc.oneof(fc.string(), fc.json(), fc.nat().map(String));
    const headers = fc.oneof(
      fc.dictionary(
        fc.constantFrom(
          'x-app-usage',
          'X-Business-Use-Case-Usage',
          'x-business-use-case-usage',
          'retry-after',
          'x-fb-trace-id',
        ),
        headerValue,
      ),
      fc.dictionary(fc.string(), fc.option(fc.string(), { nil: undefined })),
      fc.anything(),
    );
    const status = fc.oneof(fc.constant(null), fc.integer({ min: 100, max: 599 }), fc.integer(), fc.double());
    fc.assert(
      fc.property(
        fc.record(
          { status, body, headers, timedOut: fc.anything(), sent: fc.anything() },
          { requiredKeys: ['status'] },
        ),
        valid,
      ),
      { numRuns: 1000 },
    );
  });
});
