import { newFbtraceId } from './ids.ts';

// Meta's error answers: {"error":{"message","type","code","error_subcode","fbtrace_id",...}}, HTTP
// 400 (500 for codes 1 and 2). The messages follow what Meta sends for each code.

/** What a Graph route answers: status, JSON body (none for a bare 5xx) and extra headers. */
export interface GraphAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface GraphErrorExtra {
  subcode?: number;
  status?: number;
  type?: string;
  transient?: boolean;
  userTitle?: string;
  userMsg?: string;
  headers?: Record<string, string>;
}

export function graphError(code: number, message: string, extra: GraphErrorExtra = {}): GraphAnswer {
  const error = {
    message,
    type: extra.type ?? 'OAuthException',
    code,
    ...(extra.subcode !== undefined && { error_subcode: extra.subcode }),
    ...(extra.transient !== undefined && { is_transient: extra.transient }),
    ...(extra.userTitle !== undefined && { error_user_title: extra.userTitle }),
    ...(extra.userMsg !== undefined && { error_user_msg: extra.userMsg }),
    fbtrace_id: newFbtraceId(),
  };
  const status = extra.status ?? (code === 1 || code === 2 ? 500 : 400);
  return { status, body: { error }, ...(extra.headers && { headers: extra.headers }) };
}

/** A bad parameter: code 100 with Meta's "(#100)" prefix. */
export const paramError = (message: string, subcode?: number) =>
  graphError(100, `(#100) ${message}`, subcode === undefined ? {} : { subcode });

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');
/** Meta's date style in token errors: "Thursday, 01-Jan-26 12:00:00 UTC". */
const metaDate = (ms: number) => {
  const d = new Date(ms);
  return `${DAYS[d.getUTCDay()]}, ${p2(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${p2(d.getUTCFullYear() % 100)} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} UTC`;
};

export const tokenExpired = (now: number) =>
  graphError(
    190,
    `Error validating access token: Session has expired on ${metaDate(now - 3_600_000)}. The current time is ${metaDate(now)}.`,
    { subcode: 463 },
  );

export const tokenMissing = () => graphError(104, 'An access token is required to request this resource.');

export const noMatchingUser = () => paramError('No matching user found', 2018001);

export const outsideWindow = () =>
  graphError(
    10,
    '(#10) This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview',
    {
      subcode: 2534022,
      userTitle: 'Message Not Sent',
      userMsg: "This person isn't available right now.",
    },
  );

export const consentRequired = () =>
  graphError(230, '(#230) User consent is required to access user profile', { subcode: 2534014 });

export const policyBlock = () =>
  graphError(368, '(#368) The action attempted has been deemed abusive or is otherwise disallowed');

export const transientError = (status = 500) =>
  graphError(2, 'An unexpected error has occurred. Please retry your request later.', {
    transient: true,
    status,
  });

export const unknownError = () =>
  graphError(1, 'An unknown error has occurred.', { transient: false, status: 500 });

export const throttled = (headers: Record<string, string>) =>
  graphError(613, '(#613) Calls to this api have exceeded the rate limit.', {
    subcode: 2534040,
    transient: true,
    headers,
  });

export const appRateLimited = (headers: Record<string, string>) =>
  graphError(4, '(#4) Application request limit reached', { transient: true, headers });

/** An id that is not a node this token can see (or a node without this edge). */
export const unsupportedRequest = (method: string, id: string) =>
  paramError(
    `Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
    33,
  );

export const unknownPath = (path: string) => graphError(2500, `Unknown path components: ${path}`);

export const nonexistingField = (field: string, nodeType: string) =>
  paramError(`Tried accessing nonexisting field (${field}) on node type (${nodeType})`);
