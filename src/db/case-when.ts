/**
 * One UPDATE that sets a different value on each row of a batch: `CASE <column> WHEN ? THEN
 * <value> ... END`, where a value is bound, or a fragment of SQL with its own bindings (which may
 * name the row's current columns). Used by the recorder for deliveries (by id) and for the
 * counters (by webhook id), so a batch costs one statement instead of one per row.
 */
import type { Knex } from 'knex';

export type SqlValue = string | number | null;

export interface Fragment {
  readonly sql: string;
  readonly bindings: readonly SqlValue[];
}

export function caseWhen<T>(
  db: Knex,
  column: string,
  rows: readonly T[],
  keyOf: (row: T) => string,
  valueOf: (row: T) => SqlValue | Fragment,
): Knex.Raw {
  const parts: string[] = [];
  const bindings: SqlValue[] = [];
  for (const row of rows) {
    const value = valueOf(row);
    const fragment: Fragment = value !== null && typeof value === 'object' ? value : { sql: '?', bindings: [value] };
    parts.push(`WHEN ? THEN ${fragment.sql}`);
    bindings.push(keyOf(row), ...fragment.bindings);
  }
  return db.raw(`CASE ${column} ${parts.join(' ')} END`, bindings);
}
