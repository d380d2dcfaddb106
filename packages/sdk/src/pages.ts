import type { Page } from './types.ts';

/** The items of every page, fetching the next one only when the caller gets to it. */
export async function* pages<T>(load: (cursor: string | undefined) => Promise<Page<T>>): AsyncGenerator<T> {
  let cursor: string | undefined;
  do {
    const page = await load(cursor);
    yield* page.data;
    cursor = page.nextCursor ?? undefined;
  } while (cursor !== undefined);
}
