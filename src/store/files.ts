import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statfsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

// The embedded store's files hold every DM: only their owner may read them. SQLite gives the WAL and
// shared-memory files the mode of the database file, so the database file is made first, 0600.

const OWNER_ONLY = 0o600;

/**
 * Makes the store's folder (0700, when igdm creates it: a folder the user chose keeps its mode) and
 * its database file (0600) if missing, and makes existing files owner-only (stores made by earlier
 * versions were 0644).
 */
export function prepareStoreFiles(path: string): void {
  const dir = dirname(resolve(path));
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  createOwnerOnly(path);
  for (const file of [`${path}-wal`, `${path}-shm`]) if (existsSync(file)) ownerOnly(file);
}

/** Creates `file` (0600) unless it exists, and makes it owner-only. */
export function createOwnerOnly(file: string): void {
  closeSync(openSync(file, 'a', OWNER_ONLY));
  ownerOnly(file);
}

/** Takes the group's and others' permissions away. */
function ownerOnly(file: string): void {
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  try {
    chmodSync(file, mode & 0o700);
  } catch (err) {
    throw new Error(
      `cannot make ${file} readable by its owner only (${(err as Error).message}); run igdm as the user that owns it, or run: chmod 600 ${file}`,
    );
  }
}

/** Bytes free for this process on the disk of the store's folder. */
export function freeDiskBytes(path: string): number {
  const { bavail, bsize } = statfsSync(dirname(resolve(path)));
  return bavail * bsize;
}
