import { z } from 'zod';
import type { PageKey } from '../store/pages.ts';

// Keyset pages in the API: the query that asks for one, and the opaque cursor to the next.

/** The query of every list: `limit` rows after `cursor`. */
export const Page = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().optional().meta({ description: "The previous page's nextCursor." }),
});

/** Opaque page cursors: the sort key of the last row returned. */
export const encodeCursor = (key: PageKey) => Buffer.from(JSON.stringify(key)).toString('base64url');

/** The sort key a cursor holds; null for one this API did not make. */
export function decodeCursor(cursor: string): PageKey | null {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    return Array.isArray(v) && Number.isFinite(v[0]) && typeof v[1] === 'string' ? [v[0], v[1]] : null;
  } catch {
    return null;
  }
}
