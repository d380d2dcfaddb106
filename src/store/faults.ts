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
