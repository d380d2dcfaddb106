import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import { isDamage } from './faults.ts';
import type { QuickCheckResult } from './integrity.ts';

// The integrity check's thread (see integrity.ts): PRAGMA quick_check on a connection of its own.

/** Enough to tell what is wrong; a badly damaged store lists thousands of problems. */
const MAX_PROBLEMS = 5;

function quickCheck(path: string): QuickCheckResult {
  try {
    const db = new DatabaseSync(path);
    try {
      const rows = db.prepare(`PRAGMA quick_check(${MAX_PROBLEMS})`).all() as { quick_check: string }[];
      // One row per problem, or several lines in one row, or 'ok'.
      const problems = rows
        .flatMap((r) => r.quick_check.split('\n'))
        .filter((p) => p !== 'ok' && !p.startsWith('*** in database'))
        .slice(0, MAX_PROBLEMS);
      return problems.length ? { damage: problems.join('; ') } : { damage: null };
    } finally {
      db.close();
    }
  } catch (err) {
    const message = (err as Error).message;
    return isDamage(err) ? { damage: message } : { error: message };
  }
}

parentPort!.postMessage(quickCheck((workerData as { path: string }).path));
