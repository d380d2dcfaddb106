import { existsSync, statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

// A damaged store would start, report ready, then answer 500. At start igdm runs SQLite's
// PRAGMA quick_check (every page and b-tree, without checking indexes against their tables). On a
// large store it takes a while, and node:sqlite cannot interrupt a statement: it runs in a thread of
// its own, and the start waits for it within a time budget only. Past the budget, igdm starts and
// the check goes on; damage it finds then makes /readyz report the store not ready.

export type QuickCheckResult = { damage: string | null } | { error: string };

/** How long the start waits for the check by default. */
export const INTEGRITY_BUDGET_MS = 10_000;

export interface IntegrityCheck {
  /** What the check found wrong, once it has finished; null while it runs, or when nothing is. */
  readonly damage: string | null;
  /** Stops a check still running (the store closes). */
  stop(): void;
}

const damagedMessage = (path: string, damage: string) =>
  /not a database/.test(damage)
    ? `${path} is not an SQLite database (${damage}): set DATABASE_URL to the store igdm made, or restore that file from a backup`
    : `the store ${path} is damaged (PRAGMA quick_check: ${damage}). Stop igdm, then restore the store from a backup, or copy out what can be read: sqlite3 ${path} ".recover" | sqlite3 recovered.sqlite, and set DATABASE_URL=sqlite:recovered.sqlite`;

/**
 * Checks the store at `path`. Throws when it finds damage within `budgetMs`; past
 * that, resolves and goes on, calling `lateDamage` if it finds some.
 */
export async function checkIntegrity(
  path: string,
  budgetMs: number,
  lateDamage: (message: string) => void = () => {},
): Promise<IntegrityCheck> {
  const state = { damage: null as string | null, stop: () => {} };
  if (statSync(path).size === 0 && !existsSync(`${path}-wal`)) return state; // a new store
  const worker = new Worker(new URL('./quick-check.ts', import.meta.url), { workerData: { path } });
  worker.unref(); // a check still running does not hold the process up
  state.stop = () => void worker.terminate();
  const result = new Promise<QuickCheckResult>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    result,
    new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), budgetMs);
    }),
  ]).finally(() => clearTimeout(timer));
  if (outcome === 'late') {
    result.then(
      (r) => {
        if ('damage' in r && r.damage) {
          state.damage = r.damage;
          lateDamage(damagedMessage(path, r.damage));
        }
      },
      () => {}, // stopped
    );
    return state;
  }
  if ('error' in outcome) throw new Error(`cannot check the store ${path}: ${outcome.error}`);
  if (outcome.damage) throw new Error(damagedMessage(path, outcome.damage));
  return state;
}
