/**
 * One UPDATE that sets a different value on each row of a batch: `CASE <column> WHEN ? THEN
 * <value> ... END`, where a value is bound, or a fragment of SQL with its own bindings (which may
 * name the row's current columns). Used by the recorder for deliveries (by id) and for the
 * counters (by webhook id), so a batch costs one statement instead of one per row.
 */
export type SqlValue = string | number | null;

export interface Fragment {
  readonly sql: string;
  readonly bindings: readonly SqlValue[];
}

export function caseWhen<T>(
  column: string,
  rows: readonly T[],
  keyOf: (row: T) => string,
  valueOf: (row: T) => SqlValue | Fragment,
): Fragment {
  const parts: string[] = [];
  const bindings: SqlValue[] = [];
  for (const row of rows) {
    const value = valueOf(row);
    const fragment: Fragment = value !== null && typeof value === 'object' ? value : { sql: '?', bindings: [value] };
    parts.push(`WHEN ? THEN ${fragment.sql}`);
    bindings.push(keyOf(row), ...fragment.bindings);
  }
  return { sql: `CASE ${column} ${parts.join(' ')} END`, bindings };
}

/** `UPDATE <table> SET a = <fragment>, ... WHERE <where>`, with the bindings in order. */
export function updateSql(table: string, set: ReadonlyArray<readonly [string, Fragment]>, where: Fragment): Fragment {
  return {
    sql: `UPDATE ${table} SET ${set.map(([column, value]) => `${column} = ${value.sql}`).join(', ')} WHERE ${where.sql}`,
    bindings: [...set.flatMap(([, value]) => value.bindings), ...where.bindings],
  };
}

/** A bound value as a fragment. */
export const bound = (value: SqlValue): Fragment => ({ sql: '?', bindings: [value] });

/** `<columns> IN ((?, ?), ...)` (or `<column> IN (?, ...)` for one column) over these tuples. */
export function inList(columns: readonly string[], tuples: ReadonlyArray<readonly SqlValue[]>): Fragment {
  const one = columns.length === 1;
  const tuple = one ? '?' : `(${columns.map(() => '?').join(', ')})`;
  return {
    sql: `${one ? columns[0] : `(${columns.join(', ')})`} IN (${tuples.map(() => tuple).join(', ')})`,
    bindings: tuples.flat(),
  };
}
