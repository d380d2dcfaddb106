import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';

// Damage done to a stopped igdm's store file, as a failing disk would do it.

/** The leaf pages of a table or index (by name) in a store file, from SQLite's dbstat table. */
export function leavesOf(file: string, name: string): number[] {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const rows = db
      .prepare(`select pageno from dbstat where name = ? and pagetype = 'leaf' order by pageno`)
      .all(name);
    return rows.map((r) => Number(r.pageno));
  } finally {
    db.close();
  }
}

/**
 * Overwrites the first cell pointers of page `pageno`, a b-tree leaf (page 1, with the file's header,
 * is refused), and returns a function that puts the page back as it was (a restore from a backup).
 */
export function damagePage(file: string, pageno: number): () => void {
  if (pageno < 2) throw new Error('page 1 holds the file header');
  const db = new DatabaseSync(file, { readOnly: true });
  const { page_size: pageSize } = db.prepare('PRAGMA page_size').get() as { page_size: number };
  db.close();
  const at = (pageno - 1) * pageSize + 8; // after a leaf page's header
  const fd = openSync(file, 'r+');
  const before = Buffer.alloc(8);
  try {
    readSync(fd, before, 0, before.length, at);
    writeSync(fd, Buffer.alloc(before.length, 0xff), 0, before.length, at);
  } finally {
    closeSync(fd);
  }
  return () => {
    const back = openSync(file, 'r+');
    try {
      writeSync(back, before, 0, before.length, at);
    } finally {
      closeSync(back);
    }
  };
}
