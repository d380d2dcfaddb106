// Errors of the store itself, told apart from errors of the data written to it. node:sqlite's errors
// carry SQLite's result code (`errcode`, the extended code: SQLITE_IOERR_WRITE is 778); its low byte
// is the primary code.

const BUSY = 5;
const LOCKED = 6;
const NOMEM = 7;
const READONLY = 8;
const INTERRUPT = 9;
const IOERR = 10;
const CORRUPT = 11;
const FULL = 13;
const CANTOPEN = 14;
const PROTOCOL = 15;
const NOTADB = 26;

/** SQLite's primary result code of an error thrown by node:sqlite, or null for any other error. */
function sqliteCode(err: unknown): number | null {
  const code = (err as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' ? code & 0xff : null;
}

const STORE_FAULTS = new Set([
  BUSY,
  LOCKED,
  NOMEM,
  READONLY,
  INTERRUPT,
  IOERR,
  CORRUPT,
  FULL,
  CANTOPEN,
  PROTOCOL,
  NOTADB,
]);

/**
 * True when the store failed (a full disk, an I/O error, a lock, damage), rather than the statement
 * (a constraint, bad data): the same write may well succeed later.
 */
export const isStoreFault = (err: unknown): boolean => STORE_FAULTS.has(sqliteCode(err) ?? -1);

/** The file is damaged, or is not an SQLite database at all. */
export const isDamage = (err: unknown): boolean => {
  const code = sqliteCode(err);
  return code === CORRUPT || code === NOTADB;
};

/** Another connection holds the lock a statement needs. */
export const isBusy = (err: unknown): boolean => sqliteCode(err) === BUSY;

/**
 * PostgreSQL's classes of errors of the server or the connection rather than of the statement
 * (SQLSTATE's first two characters): connection exceptions, transaction rollbacks (a deadlock, a
 * serialization failure), insufficient resources (a full disk), operator intervention (a shutdown),
 * system and internal errors.
 */
const POSTGRES_FAULT_CLASSES = new Set(['08', '40', '53', '57', '58', 'XX']);
/** What pg says when the connection ends under a query (no SQLSTATE: the server never answered). */
const CONNECTION_LOST =
  /connection terminated|connection error|not queryable|timeout exceeded when trying to connect/i;

/**
 * True when PostgreSQL or the connection to it failed, rather than the statement or the data (a
 * constraint, a bug in igdm): the same work may well succeed later.
 */
export function isPostgresFault(err: unknown): boolean {
  const e = err as { code?: unknown; severity?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : null;
  // The server's answer (pg's DatabaseError carries its severity and SQLSTATE).
  if (code && typeof e?.severity === 'string') return POSTGRES_FAULT_CLASSES.has(code.slice(0, 2));
  // The socket's (ECONNRESET, EPIPE, ETIMEDOUT ...), or pg's own word for a lost connection.
  if (code?.startsWith('E')) return true;
  return typeof e?.message === 'string' && CONNECTION_LOST.test(e.message);
}
