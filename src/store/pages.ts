import type { ExpressionBuilder, ReferenceExpression } from 'kysely';

// Keyset pages: rows in (time, id) order, the next page after the sort key of the last row returned.

/** The sort key of the last row of a page: its time and id. */
export type PageKey = [at: number, id: string];

export interface Page<T> {
  rows: T[];
  /** Rows follow this page. */
  more: boolean;
}

/** One more row than the page is asked for says whether more follow. */
export const pageOf = <T>(rows: T[], limit: number): Page<T> => ({
  rows: rows.slice(0, limit),
  more: rows.length > limit,
});

/** Rows after `key` in the order of (at, id): `<` going down, `>` going up. */
export function after<DB, TB extends keyof DB>(
  eb: ExpressionBuilder<DB, TB>,
  [at, id]: PageKey,
  cmp: '<' | '>',
  atColumn: ReferenceExpression<DB, TB>,
  idColumn: ReferenceExpression<DB, TB>,
) {
  return eb.or([eb(atColumn, cmp, at), eb.and([eb(atColumn, '=', at), eb(idColumn, cmp, id)])]);
}
