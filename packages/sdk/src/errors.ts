// igdm answers every refusal as { "error": { "code", "message", "issues"? } }; the client throws it
// as an IgdmError. A request that got no answer (the network, a timeout) throws fetch's own error.

/** A field igdm refused, with `invalid_content`: `content.quickReplies[13]`, why. */
export interface ContentIssue {
  path: string;
  message: string;
}

export class IgdmError extends Error {
  override readonly name = 'IgdmError';
  /** igdm's stable code: `unauthorized`, `conversation_not_found`, `invalid_content`, `outside_window` ... */
  readonly code: string;
  /** The HTTP status. */
  readonly status: number;
  /** With `invalid_content`: each field beyond what Meta accepts. */
  readonly issues?: ContentIssue[];

  constructor(status: number, code: string, message: string, issues?: ContentIssue[]) {
    super(message);
    this.status = status;
    this.code = code;
    if (issues) this.issues = issues;
  }
}

/** The error an answer that is not a success stands for, whatever its body. */
export function errorOf(status: number, body: unknown): IgdmError {
  const error = (body as { error?: { code?: unknown; message?: unknown; issues?: unknown } } | null)?.error;
  if (error && typeof error.code === 'string') {
    const message = typeof error.message === 'string' ? error.message : error.code;
    return new IgdmError(status, error.code, message, Array.isArray(error.issues) ? error.issues : undefined);
  }
  // Not igdm's shape: a proxy's page, or no body.
  return new IgdmError(status, `http_${status}`, `igdm answered HTTP ${status}`);
}
