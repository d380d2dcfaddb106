// Statements whose answer igdm need not wait for, sent ahead of the next one on the same connection
// (pg's pipeline mode writes a query at once instead of after the previous one's answer): a
// transaction's BEGIN, and writes inside a transaction marked with `deferred()`. Each costs a round
// trip otherwise, and on this path round trips, not the server's work, are what a reply costs.
//
// The answer to a deferred statement is awaited with the next statement the connection runs, which
// a transaction always has (its COMMIT or ROLLBACK): that statement fails with the deferred one's
// error, the real cause, rather than PostgreSQL's "current transaction is aborted".

/** The text's mark: a deferred write answers at once, with no rows and no count. */
const MARK = '/* deferred */ ';

/** `text` as a write whose answer is not awaited (within a transaction only; see above). */
export const deferred = (text: string): string => MARK + text;

const isMarked = (text: string) => text.startsWith(MARK);

const ROLLBACK = /^rollback\b/i;

/** What Kysely reads of a result: a deferred statement's stand-in. */
const ANSWERED = { command: 'DEFERRED', rowCount: null, rows: [], fields: [] };

type Query = (text: string, values: unknown[]) => Promise<unknown>;

/** The connection's socket, held back while deferred statements gather (Node's cork/uncork). */
export interface Cork {
  cork(): void;
  uncork(): void;
}

/**
 * Wraps a client's query(text, values) so that deferred statements do not wait for their answer.
 * Deferred statements are held back on the socket and written with the next awaited one, in one
 * write: each write wakes the server, and on a shared machine that costs more than the statement.
 */
export function pipelined(query: Query, socket?: Cork): Query {
  let pending: Promise<unknown>[] = [];
  let corked = false;
  const uncork = () => {
    if (!corked) return;
    corked = false;
    socket?.uncork();
  };
  return (text, values) => {
    const marked = isMarked(text);
    if (marked || text === 'begin') {
      if (socket && !corked) {
        corked = true;
        socket.cork();
        // A transaction's next statement follows within microtasks; nothing is held longer than this.
        setImmediate(uncork);
      }
      // Sent without its mark: the same text awaited or not is one named statement.
      const answer = query(marked ? text.slice(MARK.length) : text, values);
      answer.catch(() => {}); // reported by the next statement
      pending.push(answer);
      return Promise.resolve(ANSWERED);
    }
    const answer = query(text, values);
    uncork();
    if (pending.length === 0) return answer;
    const before = pending;
    pending = [];
    return Promise.allSettled(before).then((results) => {
      const failed = results.find((r) => r.status === 'rejected');
      // A rollback (to a savepoint too) ends what failed, whatever it was.
      if (failed && !ROLLBACK.test(text)) {
        answer.catch(() => {});
        throw failed.reason;
      }
      return answer;
    });
  };
}
